import ConduitCore
import ConduitJobs
import Foundation
import Logging
import ServiceLifecycle
import Store

/// Keeps the store's housekeeping tables small while the server runs: once a minute, rate counters
/// of windows that are over, refresh tokens expired for a day and logged requests past their
/// retention are deleted (each node does it; the deletes are idempotent).
struct StoreMaintenance: Service {
    let store: Database
    let configuration: LiveConfiguration
    let logger: Logger
    var interval: Duration = .seconds(60)

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await store.pruneRateCounters()
                // A day late: a replayed token of a just-expired login is still recognised as spent.
                try await store.pruneRefreshTokens(expiredBefore: Timestamp.now() - 86_400)
                try await store.pruneRequestLog(before: Timestamp.now() - Int64(configuration.read(\.requestLog.retentionDays)) * 86_400)
                // Events are kept as long as the finished jobs that made them.
                try await store.pruneEvents(before: Milliseconds.now() - Int64(configuration.read(\.jobs.retentionDays)) * 86_400_000)
            } catch {
                logger.warning("store housekeeping failed", metadata: ["error": "\(error)"])
            }
            // Shutdown cuts the wait short: the server must not linger a minute on its way out.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
