import ConduitCore
import Foundation
import Hummingbird
import ModelRuntime
import Store

/// `GET /v1/admin/debug`, for an operator (the `operator` scope): what is loaded, how full each
/// model's queue is and what it has done, the process's memory, and how long it has run.
package struct DebugController {
    package let catalog: ModelCatalog
    package let scheduler: Live<SchedulerConfiguration>
    /// What the node says of itself: the database it uses (its password replaced), whether it
    /// authenticates, and its configuration's version.
    package let node: Live<Node>
    package let started: ContinuousClock.Instant

    package struct Snapshot: Encodable {
        package struct Model: Encodable {
            package var name: String
            package var aliases: [String]
            package var dimensions: Int
            package var maxInputTokens: Int
            package var pooling: String
            /// The CPU, its features and the kernel the model runs with.
            package var compute: ComputeEnvironment
            package var queuedRequests: Int
            package var queuedTokens: Int
            package var batches: Int
            package var sequences: Int
            package var tokens: Int
            package var rejected: Int
            package var cancelled: Int
            package var expired: Int
        }
        package struct Limits: Encodable {
            package var maxBatchTokens: Int
            package var maxBatchRequests: Int
            package var maxQueuedTokens: Int
            package var maxQueuedRequests: Int
            package var requestTimeoutSeconds: Double
        }
        package var models: [Model]
        package var scheduler: Limits
        package var residentMemoryBytes: Int?
        package var peakResidentMemoryBytes: Int?
        package var uptimeSeconds: Double
        package var database: String
        package var authentication: Bool
        /// 1 at start, one more for each reload that changed a setting.
        package var configurationVersion: Int
    }

    package func addRoutes(to router: some RouterMethods<ConduitRequestContext>) {
        router.get("/v1/admin/debug") { _, _ in
            try json(snapshot())
        }
    }

    package struct Node: Sendable {
        package var database: String
        package var authentication: Bool
        /// 1 at start, one more for each reload that changed a setting.
        package var configurationVersion: Int

        package init(database: String, authentication: Bool, configurationVersion: Int) {
            self.database = database
            self.authentication = authentication
            self.configurationVersion = configurationVersion
        }
    }

    package func snapshot() -> Snapshot {
        let scheduler = self.scheduler.current
        let node = self.node.current
        return Snapshot(
            models: catalog.models.map { served in
                let statistics = served.scheduler.statistics
                let depth = served.scheduler.queueDepth
                return Snapshot.Model(
                    name: served.name, aliases: served.aliases, dimensions: served.model.dimension,
                    maxInputTokens: served.model.maxSequenceLength, pooling: "\(served.model.pooling)",
                    compute: served.model.computeEnvironment,
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
            database: node.database, authentication: node.authentication, configurationVersion: node.configurationVersion)
    }
}
