import ConduitCore
import Logging
import ServiceLifecycle
import Store

/// The event log: its history and live streams (`/v1/events`, any key, each seeing the types its scopes
/// may read, as server-sent events or over a WebSocket), and its delivery to the teams' webhooks (`/v1/webhooks` and the delivery jobs).
package struct EventsFeature: ConduitFeature {
    let teams: TeamScope
    let settings: Live<WebhooksConfiguration>
    let limits: Live<APILimits>
    let http: OutboundHTTPClient
    /// Every event type of the features a deployment can run: what webhooks may subscribe to and
    /// streams may ask for.
    let catalogue: [any EventPayload.Type]
    let hub: EventHub
    let presence = PresenceBoard()
    /// The work the node's other features offer on the event socket.
    let socketWork: [String: any SocketOperation]

    package init(
        teams: TeamScope, settings: Live<WebhooksConfiguration>, events: Live<EventsConfiguration>, limits: Live<APILimits>,
        http: OutboundHTTPClient, catalogue: [any EventPayload.Type], socketOperations: [any SocketOperation], logger: Logger
    ) {
        socketWork = Dictionary(socketOperations.map { ($0.type, $0) }, uniquingKeysWith: { first, _ in first })
        self.catalogue = catalogue
        self.teams = teams
        self.settings = settings
        self.limits = limits
        self.http = http
        hub = EventHub(store: teams.store, settings: events, logger: logger)
    }

    package static var eventTypes: [any EventPayload.Type] { WebhookEvents.all }

    package var jobWorkers: [any JobWorker] { [WebhookDeliveryWorker(store: teams.store, http: http, settings: settings)] }

    package var services: [any Service] {
        let hub = self.hub
        return [hub, PresenceExchange(board: presence, store: teams.store, heartbeat: { hub.heartbeat })]
    }

    package func addRoutes(to routes: FeatureRoutes, queues: any JobQueues) {
        WebhooksController(teams: teams, queues: queues, settings: settings, limits: limits, topics: catalogue.map { $0.type })
            .addRoutes(to: routes.requiring(.admin))
        let events = EventsController(teams: teams, hub: hub, catalogue: catalogue)
        events.addRoutes(to: routes.requiring(nil))
        events.addAuditRoute(to: routes.requiring(.admin))
        EventSocketController(teams: teams, hub: hub, presence: presence, catalogue: catalogue, operations: socketWork, limits: limits)
            .addRoutes(
                to: routes.requiring(nil))
    }

    package var webSocketPaths: [String] { [EventSocketController.path] }
}
