import Foundation
import Hummingbird
import ModelRuntime
import Store

/// `GET /v1/admin/debug`, for an operator with the `admin` scope: what is loaded, how full each
/// model's queue is and what it has done, the process's memory, and how long it has run.
struct DebugController {
    let catalog: ModelCatalog
    let configuration: LiveConfiguration
    let started: ContinuousClock.Instant

    struct Snapshot: Encodable {
        struct Model: Encodable {
            var name: String
            var aliases: [String]
            var dimensions: Int
            var maxInputTokens: Int
            var pooling: String
            var queuedRequests: Int
            var queuedTokens: Int
            var batches: Int
            var sequences: Int
            var tokens: Int
            var rejected: Int
            var cancelled: Int
            var expired: Int
        }
        struct Limits: Encodable {
            var maxBatchTokens: Int
            var maxBatchRequests: Int
            var maxQueuedTokens: Int
            var maxQueuedRequests: Int
            var requestTimeoutSeconds: Double
        }
        var models: [Model]
        var scheduler: Limits
        var residentMemoryBytes: Int?
        var peakResidentMemoryBytes: Int?
        var uptimeSeconds: Double
        var database: String
        var authentication: Bool
        /// 1 at start, one more for each reload that changed a setting.
        var configurationVersion: Int
    }

    func addRoutes(to router: some RouterMethods<ConduitRequestContext>) {
        router.get("/v1/admin/debug") { _, _ in
            try json(snapshot(), keys: .convertToSnakeCase)
        }
    }

    func snapshot() -> Snapshot {
        let configuration = self.configuration.current
        let scheduler = configuration.scheduler
        return Snapshot(
            models: catalog.models.map { served in
                let statistics = served.scheduler.statistics
                let depth = served.scheduler.queueDepth
                return Snapshot.Model(
                    name: served.name, aliases: served.aliases, dimensions: served.model.dimension,
                    maxInputTokens: served.model.maxSequenceLength, pooling: "\(served.model.pooling)",
                    queuedRequests: depth.requests, queuedTokens: depth.tokens, batches: statistics.batches,
                    sequences: statistics.sequences, tokens: statistics.tokens, rejected: statistics.rejected,
                    cancelled: statistics.cancelled, expired: statistics.expired)
            },
            scheduler: Snapshot.Limits(
                maxBatchTokens: scheduler.maxBatchTokens, maxBatchRequests: scheduler.maxBatchSequences,
                maxQueuedTokens: scheduler.maxQueuedTokens, maxQueuedRequests: scheduler.maxQueuedRequests,
                requestTimeoutSeconds: scheduler.requestTimeout / .seconds(1)),
            residentMemoryBytes: ProcessMemory.residentBytes(), peakResidentMemoryBytes: ProcessMemory.residentBytes(peak: true),
            uptimeSeconds: (ContinuousClock.now - started) / .seconds(1),
            // `description` replaces a URL's password: credentials never leave the server.
            database: configuration.databaseLocation.description, authentication: configuration.authentication,
            configurationVersion: self.configuration.version)
    }
}
