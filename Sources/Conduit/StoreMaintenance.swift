import ConduitCore
import ConduitEvents
import ConduitJobs
import Foundation
import Logging
import ServiceLifecycle
import Store

/// Keeps the store's housekeeping tables small while the server runs: once a minute, rate counters
/// of windows that are over, refresh tokens expired for a day, spent WebSocket tickets, logged requests past their retention
/// and expired cached chat answers are deleted (each node does it; the deletes are idempotent).
struct StoreMaintenance: Service {
    let store: Database
    let configuration: LiveConfiguration
    let logger: Logger
    var interval: Duration = .seconds(60)

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await store.rateCounters.prune()
                // A day late: a replayed token of a just-expired login is still recognised as spent.
                try await store.refreshTokens.prune(expiredBefore: StoreTime.now() - StoreTime.day)
                try await store.webSocketTickets.prune(expiredBefore: StoreTime.now() - StoreTime.minute)
                try await store.requestLog.prune(
                    before: StoreTime.now() - Int64(configuration.read(\.requestLog.retentionDays)) * StoreTime.day)
                try await store.chatCache.prune()
                try await store.chatSemanticCache.prune()
                try await store.events.prune(before: StoreTime.now() - Int64(configuration.read(\.events.retentionDays)) * StoreTime.day)
            } catch {
                logger.warning("store housekeeping failed", metadata: ["error": "\(error)"])
            }
            // Shutdown cuts the wait short: the server must not linger a minute on its way out.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
