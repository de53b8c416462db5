import ConduitCore
import Store

/// The outbox delivered to the teams' webhooks: `/v1/webhooks` and the delivery jobs.
package struct EventsFeature: ConduitFeature {
    let teams: TeamScope
    let settings: Live<WebhooksConfiguration>
    let limits: Live<APILimits>
    let http: OutboundHTTPClient
    /// What webhooks may subscribe to: every topic of the node's features.
    let topics: [String]

    package init(
        teams: TeamScope, settings: Live<WebhooksConfiguration>, limits: Live<APILimits>, http: OutboundHTTPClient, topics: [String]
    ) {
        self.topics = topics
        self.teams = teams
        self.settings = settings
        self.limits = limits
        self.http = http
    }

    package var jobWorkers: [any JobWorker] { [WebhookDeliveryWorker(store: teams.store, http: http, settings: settings)] }

    package func addRoutes(to routes: FeatureRoutes, queues: any JobQueues) {
        WebhooksController(teams: teams, queues: queues, settings: settings, limits: limits, topics: topics).addRoutes(
            to: routes.requiring(.admin))
    }
}
