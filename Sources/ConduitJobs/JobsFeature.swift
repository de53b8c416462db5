import ConduitCore
import Store

/// `/v1/jobs`, over the node's job runner, for the kinds clients may submit.
package struct JobsFeature: ConduitFeature {
    let teams: TeamScope
    let runner: JobRunner
    let workers: [any JobWorker]
    let limits: Live<APILimits>
    let rateLimiter: RateLimiter?

    package init(teams: TeamScope, runner: JobRunner, workers: [any JobWorker], limits: Live<APILimits>, rateLimiter: RateLimiter?) {
        self.teams = teams
        self.rateLimiter = rateLimiter
        self.runner = runner
        self.workers = workers
        self.limits = limits
    }

    package static var eventTypes: [any EventPayload.Type] { JobEvents.all }

    package func addRoutes(to routes: FeatureRoutes, queues: any JobQueues) {
        JobsController(store: teams.store, teams: teams, runner: runner, workers: workers, limits: limits, rateLimiter: rateLimiter)
            .addRoutes(to: routes.requiring(.jobs))
    }
}
