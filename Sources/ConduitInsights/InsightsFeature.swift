import ConduitChat
import ConduitCore
import ConduitEmbeddings
import Store

/// Conversations analysed into insights: `/v1/conversations`, `/v1/insights`, and the jobs that run
/// each conversation through its pipeline.
package struct InsightsFeature: ConduitFeature {
    let teams: TeamScope
    let limits: Live<APILimits>
    let pipelines: Live<PipelineLibrary>
    let rateLimiter: RateLimiter?
    let worker: InsightJobWorker
    let meter: UsageMeter

    package init(
        teams: TeamScope, limits: Live<APILimits>, pipelines: Live<PipelineLibrary>, rateLimiter: RateLimiter?,
        embedder: TextEmbedder, gateway: ChatGateway, meter: UsageMeter, metrics: InsightMetrics
    ) {
        self.teams = teams
        self.limits = limits
        self.pipelines = pipelines
        self.rateLimiter = rateLimiter
        self.meter = meter
        worker = InsightJobWorker(
            store: teams.store, pipelines: pipelines, embedder: embedder, gateway: gateway, meter: meter, metrics: metrics)
    }

    package var jobWorkers: [any JobWorker] { [worker] }
    package static var eventTypes: [any EventPayload.Type] { InsightEvents.all }

    package func addRoutes(to routes: FeatureRoutes, queues: any JobQueues) {
        ConversationsController(teams: teams, queues: queues, limits: limits, pipelines: pipelines, rateLimiter: rateLimiter)
            .addRoutes(submitting: routes.requiring(.jobs), reading: routes.requiring(.insights))
        EvaluationController(
            teams: teams, limits: limits, rateLimiter: rateLimiter, meter: meter, pipelines: pipelines, embedder: worker.embedder,
            classifiers: worker.classifiers, gateway: worker.gateway
        )
        .addRoutes(to: routes.requiring(.admin))
    }
}
