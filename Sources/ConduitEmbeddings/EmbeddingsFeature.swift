import ConduitCore
import ModelRuntime
import ServiceLifecycle
import Store

/// Local embedding models: `/v1/embeddings`, `/v1/tokenize`, `/v1/admin/debug`, and
/// batch embedding jobs (with a store). The catalog's schedulers run as long as the node does.
package struct EmbeddingsFeature: ConduitFeature {
    let catalog: ModelCatalog
    let limits: Live<APILimits>
    let scheduler: Live<SchedulerConfiguration>
    let node: Live<DebugController.Node>
    let rateLimiter: RateLimiter?
    let meter: UsageMeter
    /// Batch embedding runs only where jobs are stored.
    let runsJobs: Bool
    /// The gateway's embedding models, which `/v1/embeddings` hands requests for; nil where the node runs none.
    package var remote: (any RemoteEmbeddings)?

    package init(
        catalog: ModelCatalog, limits: Live<APILimits>, scheduler: Live<SchedulerConfiguration>, node: Live<DebugController.Node>,
        rateLimiter: RateLimiter?, meter: UsageMeter, runsJobs: Bool
    ) {
        self.catalog = catalog
        self.limits = limits
        self.scheduler = scheduler
        self.node = node
        self.rateLimiter = rateLimiter
        self.meter = meter
        self.runsJobs = runsJobs
    }

    package var jobWorkers: [any JobWorker] {
        runsJobs ? [EmbeddingJobWorker(catalog: catalog, limits: limits, meter: meter, rateLimiter: rateLimiter)] : []
    }

    package func addRoutes(to routes: FeatureRoutes, queues: any JobQueues) {
        EmbeddingsController(catalog: catalog, limits: limits, rateLimiter: rateLimiter, meter: meter, remote: remote)
            .addRoutes(to: routes.requiring(.embeddings))
        TokenizeController(catalog: catalog, limits: limits).addRoutes(to: routes.requiring(.embeddings))
        DebugController(catalog: catalog, scheduler: scheduler, node: node, started: .now).addRoutes(to: routes.requiring(.operator))
    }

    /// The local models, for the gateway's `local` deployments.
    package var local: any LocalEmbeddings {
        EmbeddingsController(catalog: catalog, limits: limits, rateLimiter: rateLimiter, meter: meter)
    }

    package var services: [any Service] { [catalog] }

    package var models: [ListedModel] {
        catalog.models.map { served in
            ListedModel(
                id: served.name, created: served.created, kind: .embedding, aliases: served.aliases, dimensions: served.model.dimension,
                maxInputTokens: served.model.maxSequenceLength, precision: served.model.precision.rawValue)
        }
    }
}
