import Logging
import ServiceLifecycle
import Store

/// Keeps the store's housekeeping tables small while the server runs: rate counters of windows that
/// are over are deleted once a minute (each node does it; the deletes are idempotent).
struct StoreMaintenance: Service {
    let store: Database
    let logger: Logger
    var interval: Duration = .seconds(60)

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await store.pruneRateCounters()
            } catch {
                logger.warning("pruning rate counters failed", metadata: ["error": "\(error)"])
            }
            // Shutdown cuts the wait short: the server must not linger a minute on its way out.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
