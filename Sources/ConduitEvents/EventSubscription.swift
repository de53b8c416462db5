import Store
import Synchronization

/// One live stream's place at the node's `EventHub`: the hub hands it its team's new events as they are
/// read, and the stream takes them when it is ready. What it holds is bounded (`events.stream_buffer`):
/// a client that cannot keep up is told where to resume from and let go, instead of holding memory.
package final class EventSubscription: Sendable {
    package let teamID: String
    /// The key or user whose stream it is (`Identity.holder`).
    package let holder: String?
    package let filter: EventFilter

    /// What the stream does next.
    package enum Next: Sendable {
        case events([StreamedEvent])
        /// Nothing was sent for `events.heartbeat_seconds`: send a ping.
        case heartbeat
        /// More events came than `events.stream_buffer` holds.
        case overflowed
        /// The stream was cancelled (its client left) or the node is stopping.
        case closed
    }

    private struct State {
        var pending: [StreamedEvent] = []
        var overflowed = false
        var heartbeat = false
        var closed = false
        var waiter: CheckedContinuation<Next, Never>?
        var lastSent = ContinuousClock.now
    }

    private let state = Mutex(State())

    init(teamID: String, holder: String?, filter: EventFilter) {
        self.teamID = teamID
        self.holder = holder
        self.filter = filter
    }

    /// Hands the stream the events of its team that its filter admits; past `capacity` held, it overflows.
    func offer(_ events: [StreamedEvent], capacity: Int) {
        let admitted = events.filter { filter.admits($0.event) }
        guard !admitted.isEmpty else { return }
        resume { state in
            guard !state.overflowed else { return }
            state.pending += admitted
            if state.pending.count > capacity {
                state.pending = []
                state.overflowed = true
            }
        }
    }

    /// Asks for a ping when the stream has been quiet since `quietSince`.
    func heartbeatIfQuiet(since quietSince: ContinuousClock.Instant) {
        resume { state in
            if state.lastSent < quietSince { state.heartbeat = true }
        }
    }

    func close() { resume { $0.closed = true } }

    /// Waits for what to send next. Cancelling the waiting task ends the wait with `.closed`.
    package func next() async -> Next {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> Next? in
                    if let next = Self.take(&state) { return next }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            close()
        }
    }

    /// Changes the state with `change`, and hands the waiting stream what is now ready for it.
    private func resume(_ change: (inout State) -> Void) {
        let (waiter, next) = state.withLock { state -> (CheckedContinuation<Next, Never>?, Next?) in
            change(&state)
            guard state.waiter != nil, let next = Self.take(&state) else { return (nil, nil) }
            defer { state.waiter = nil }
            return (state.waiter, next)
        }
        if let waiter, let next { waiter.resume(returning: next) }
    }

    private static func take(_ state: inout State) -> Next? {
        if state.closed { return .closed }
        if state.overflowed { return .overflowed }
        if !state.pending.isEmpty {
            defer { state.pending = [] }
            state.lastSent = .now
            state.heartbeat = false
            return .events(state.pending)
        }
        if state.heartbeat {
            state.heartbeat = false
            state.lastSent = .now
            return .heartbeat
        }
        return nil
    }
}
