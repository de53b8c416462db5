import Logging
import ServiceLifecycle
import Store
import Synchronization

/// Collects a usage event for every inference request and writes them to the store in batches,
/// once a second, off the request path; on shutdown it writes what is left. A crash can lose at
/// most the last second's events: usage is for reports and billing estimates, and one write per
/// request would put the database on every request's latency.
final class UsageRecorder: Service, Sendable {
    private let store: Database
    private let logger: Logger
    private let pending = Mutex<[UsageEvent]>([])
    private let interval: Duration

    init(store: Database, logger: Logger, interval: Duration = .seconds(1)) {
        self.store = store
        self.logger = logger
        self.interval = interval
    }

    /// Events held while the store cannot be written, at most; beyond, the oldest are dropped.
    static let maximumPending = 100_000

    func record(_ event: UsageEvent) {
        pending.withLock { events in
            if events.count >= Self.maximumPending { events.removeFirst(events.count - Self.maximumPending + 1) }
            events.append(event)
        }
    }

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
            await flush()
        }
        await flush()
    }

    /// Writes what is pending; on failure keeps it for the next attempt. The write runs in a task of
    /// its own: at shutdown this service may already be cancelled, and the store's calls would then
    /// give up before writing the last events.
    func flush() async {
        await Task { await self.write() }.value
    }

    private func write() async {
        let events = pending.withLock { events in
            defer { events.removeAll() }
            return events
        }
        guard !events.isEmpty else { return }
        do {
            try await store.record(events)
        } catch {
            logger.warning("usage events not written; retrying", metadata: ["events": "\(events.count)", "error": "\(error)"])
            pending.withLock { $0.insert(contentsOf: events, at: 0) }
        }
    }
}
