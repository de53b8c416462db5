import Logging
import NIOCore
import NIOPosix
import PostgresKit
import PostgresNIO
import SQLKit
import Synchronization

/// PostgresNIO's connection pool, watched over so that an outage is short and visible.
///
/// Left alone, the pool queues every call while it cannot connect (up to a minute, until its circuit
/// breaker trips), and after a long outage its reconnection backoff has grown to tens of seconds. So
/// a call that waits longer than ``suspectAfter``, or fails on a broken connection, has the server
/// probed on a connection of its own. A probe that fails marks the database down: calls then fail at
/// once (503 `database_unavailable`) rather than queue, and probes go on every ``probeInterval``. The
/// first probe that is answered brings a fresh pool in, so service resumes within a probe or two of the
/// server's return.
final class PostgresPool: Sendable {
    static let suspectAfter: Duration = .seconds(1)
    static let probeInterval: Duration = .milliseconds(250)
    static let probeTimeout: Duration = .seconds(3)

    private struct Running: Sendable {
        let client: PostgresClient
        let task: Task<Void, Never>
    }

    private struct State {
        var current: Running
        /// Why the server is taken to be out of reach, set by a failed probe; nil while it answers.
        var outage: String?
        var probe: Task<Void, Never>?
        var lastAnswered: ContinuousClock.Instant?
        /// A call ran out its whole deadline: the pool's connections may be dead (half-open after a failover)
        /// even though the server answers; the next answered probe replaces them.
        var callsTimedOut = false
        var closed = false
    }

    private let configuration: PostgresClient.Configuration
    /// For probes: a connection of their own, which fails at once when the server refuses it (a pool would
    /// queue the probe until its timeout).
    private let probeConfiguration: PostgresConnection.Configuration
    private let logger: Logger
    private let state: Mutex<State>

    init(configuration: PostgresClient.Configuration, probeConfiguration: PostgresConnection.Configuration, logger: Logger) {
        self.configuration = configuration
        var probeConfiguration = probeConfiguration
        probeConfiguration.options.connectTimeout = .seconds(Int64(Self.probeTimeout / .seconds(1)))
        self.probeConfiguration = probeConfiguration
        self.logger = logger
        state = Mutex(State(current: Self.start(configuration, logger: logger)))
    }

    private static func start(_ configuration: PostgresClient.Configuration, logger: Logger) -> Running {
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        return Running(client: client, task: Task { await client.run() })
    }

    /// The pool calls go to now (a new one after an outage).
    var client: PostgresClient { state.withLock { $0.current.client } }

    /// Why the database is out of reach, while it is.
    var outage: String? { state.withLock { $0.outage } }

    /// Has the server probed unless a probe is under way or one was answered a moment ago; `callTimedOut`:
    /// a call waited its whole deadline.
    func suspect(callTimedOut: Bool = false) {
        state.withLock { state in
            if callTimedOut { state.callsTimedOut = true }
            guard !state.closed, state.probe == nil else { return }
            if !callTimedOut, let answered = state.lastAnswered, .now - answered < Self.suspectAfter { return }
            state.probe = Task { await self.probeUntilAnswered() }
        }
    }

    /// Whether `error`, thrown by a call on `client`, says the server or the connection to it failed
    /// (rather than the query); if so the server is probed. Errors of a pool already replaced are not
    /// news.
    func isConnectionFailure(_ error: any Error, on client: PostgresClient) -> Bool {
        guard Self.isConnectionFailure(error) else { return false }
        if client === self.client { suspect() }
        return true
    }

    private static func isConnectionFailure(_ error: any Error) -> Bool {
        switch error {
        case let error as PSQLError:
            switch error.code {
            case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed: return true
            case .server:
                // Class 08: connection exception; 57P: the server is shutting down, restarting or starting.
                let state = error.serverInfo?[.sqlState] ?? ""
                return state.hasPrefix("08") || state.hasPrefix("57P")
            default: return false
            }
        case is IOError, is ChannelError, is NIOConnectionError: return true
        default: return false
        }
    }

    private func probeUntilAnswered() async {
        while !Task.isCancelled {
            do {
                try await withDeadline(watch: { $0 >= Self.probeTimeout ? StoreError.unavailable("no answer to a probe") : nil }) {
                    [probeConfiguration, logger] in
                    let connection = try await PostgresConnection.connect(configuration: probeConfiguration, id: 0, logger: logger)
                    do {
                        try await connection.sql(queryLogLevel: nil).raw("SELECT 1").run()
                    } catch {
                        try? await connection.close()
                        throw error
                    }
                    try? await connection.close()
                }
                // The old pool may be deep in its reconnection backoff, or hold dead connections: calls go to a new one.
                let retired = state.withLock { state -> Running? in
                    defer {
                        state.outage = nil
                        state.callsTimedOut = false
                        state.lastAnswered = .now
                        state.probe = nil
                    }
                    guard state.outage != nil || state.callsTimedOut, !state.closed else { return nil }
                    let old = state.current
                    state.current = Self.start(configuration, logger: logger)
                    return old
                }
                if let retired {
                    retired.task.cancel()
                    logger.notice("the database answers again; calls go to new connections")
                }
                return
            } catch {
                if Task.isCancelled { break }  // closing
                // An answer that refuses (too many connections, a password) is not an outage: the pool may be fine.
                guard error is StoreError || Self.isConnectionFailure(error) else {
                    logger.warning("the database refused a probe", metadata: ["error": "\(error)"])
                    state.withLock { state in
                        state.lastAnswered = .now
                        state.probe = nil
                    }
                    return
                }
                let reason = "the database does not answer (\(String(describing: error).prefix(200)))"
                let isNew = state.withLock { state in
                    defer { state.outage = reason }
                    return state.outage == nil
                }
                if isNew {
                    logger.error("database unreachable; calls fail at once until it answers again", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: Self.probeInterval)
            }
        }
        state.withLock { $0.probe = nil }
    }

    /// Calls `received` with the payload of each notification on `channel`, on a connection of its own,
    /// until cancelled; a lost connection is made again after `retryAfter` (what was announced meanwhile
    /// is not replayed: listeners poll as well).
    func listen(
        _ channel: String, retryAfter: Duration = .seconds(1), received: @escaping @Sendable (String) -> Void
    ) async {
        while !Task.isCancelled {
            do {
                let connection = try await PostgresConnection.connect(configuration: probeConfiguration, id: 1, logger: logger)
                do {
                    // The notifications wait on the connection, not on the task: closing it is what ends them.
                    try await withTaskCancellationHandler {
                        try await connection.listen(on: channel) { notifications in
                            for try await notification in notifications { received(notification.payload) }
                        }
                    } onCancel: {
                        let closing: EventLoopFuture<Void> = connection.close()
                        _ = closing
                    }
                } catch {
                    try? await connection.close()
                    throw error
                }
                try? await connection.close()
            } catch {
                if Task.isCancelled { return }
                logger.debug("lost the connection listening for notifications", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: retryAfter)
        }
    }

    /// Stops probing and closes the pool's connections, waiting at most `grace` for a server that
    /// may not answer.
    func close(grace: Duration = .seconds(2)) async {
        let (running, probe) = state.withLock { state in
            state.closed = true
            return (state.current, state.probe)
        }
        probe?.cancel()
        running.task.cancel()
        _ = try? await withDeadline(watch: { $0 >= grace ? CancellationError() : nil }) { await running.task.value }
    }
}
