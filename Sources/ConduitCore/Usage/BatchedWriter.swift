import Logging
import ServiceLifecycle
import Store
import Synchronization

/// Collects records on the request path (usage events, logged requests) and writes them to the
/// store in batches, once a second, off the request path; on shutdown it writes what is left. A
/// crash can lose at most the last second's records: one write per request would put the database
/// on every request's latency.
package final class BatchedWriter<Record: Sendable>: Service, Sendable {
    private let what: String
    private let write: @Sendable ([Record]) async throws -> Void
    private let logger: Logger
    private let pending = Mutex<[Record]>([])
    private let interval: Duration

    /// Records held while the store cannot be written, at most; beyond, the oldest are dropped.
    package let maximumPending: Int

    /// `what` names the records in the log; `write` stores a batch.
    package init(
        _ what: String, maximumPending: Int, logger: Logger, interval: Duration = .seconds(1),
        write: @escaping @Sendable ([Record]) async throws -> Void
    ) {
        self.what = what
        self.maximumPending = maximumPending
        self.write = write
        self.logger = logger
        self.interval = interval
    }

    package func record(_ record: Record) {
        pending.withLock { records in
            if records.count >= maximumPending { records.removeFirst(records.count - maximumPending + 1) }
            records.append(record)
        }
    }

    package func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
            await flush()
        }
        await flush()
    }

    /// Writes what is pending; on failure keeps it for the next attempt. The write runs in a task of
    /// its own: at shutdown this service may already be cancelled, and the store's calls would then
    /// give up before writing the last records.
    package func flush() async {
        await Task { await self.writePending() }.value
    }

    private func writePending() async {
        let records = pending.withLock { records in
            defer { records.removeAll() }
            return records
        }
        guard !records.isEmpty else { return }
        do {
            try await write(records)
        } catch {
            logger.warning("\(what) not written; retrying", metadata: ["records": "\(records.count)", "error": "\(error)"])
            pending.withLock { $0.insert(contentsOf: records, at: 0) }
        }
    }
}

/// A usage event for every inference request, for reports and billing estimates.
package typealias UsageRecorder = BatchedWriter<UsageEvent>

extension BatchedWriter where Record == UsageEvent {
    package convenience init(store: Database, logger: Logger, interval: Duration = .seconds(1)) {
        self.init("usage events", maximumPending: 100_000, logger: logger, interval: interval) { try await store.usage.record($0) }
    }
}

/// Requests and answers the request log keeps (`request_log.*`), for `conduit replay`; their bodies
/// are redacted here, as they are written, not on the request path.
package typealias RequestRecorder = BatchedWriter<CapturedRequest>

extension BatchedWriter where Record == CapturedRequest {
    package convenience init(store: Database, logger: Logger, interval: Duration = .seconds(1)) {
        // Few: each may hold two bodies of up to request_log.max_body_bytes while the store cannot be written.
        self.init("logged requests", maximumPending: 100, logger: logger, interval: interval) {
            try await store.requestLog.record($0.map(\.redacted))
        }
    }
}
