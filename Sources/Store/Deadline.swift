import Synchronization

/// `body`'s answer, unless `watch` ends the wait first: it is asked every `interval` with the time
/// waited so far and returns the error to throw, or nil to go on waiting. Cancelling the caller ends
/// the wait at once too.
///
/// The body runs in a task of its own so that it can be abandoned: a call stuck on a connection
/// that never answers (a server stopped mid-query, a half-open socket) must not hold its caller, a
/// request or a worker loop, for good. An abandoned body is cancelled and left to end by itself.
package func withDeadline<Value: Sendable>(
    checkingEvery interval: Duration = .milliseconds(100),
    watch: @escaping @Sendable (_ waited: Duration) -> (any Error)?,
    _ body: @escaping @Sendable () async throws -> Value
) async throws -> Value {
    let outcome = FirstOutcome<Value>()
    let started = ContinuousClock.now
    let work = Task {
        do { outcome.settle(.success(try await body())) } catch { outcome.settle(.failure(error)) }
    }
    let watchdog = Task {
        while !Task.isCancelled {
            try await Task.sleep(for: interval)
            if let error = watch(.now - started) {
                if outcome.settle(.failure(error)) { work.cancel() }
                return
            }
        }
    }
    defer { watchdog.cancel() }
    return try await withTaskCancellationHandler {
        try await outcome.value()
    } onCancel: {
        if outcome.settle(.failure(CancellationError())) { work.cancel() }
    }
}

/// The first of several racing results, handed to the one task that waits for it.
package final class FirstOutcome<Value: Sendable>: Sendable {
    private enum State {
        case pending
        case waiting(CheckedContinuation<Value, any Error>)
        case settled(Result<Value, any Error>)
        case delivered
    }

    private let state = Mutex<State>(.pending)

    package init() {}

    /// Settles the race with `result` unless it is settled already; true when this call settled it.
    @discardableResult
    package func settle(_ result: Result<Value, any Error>) -> Bool {
        let (won, waiter): (Bool, CheckedContinuation<Value, any Error>?) = state.withLock { state in
            switch state {
            case .pending:
                state = .settled(result)
                return (true, nil)
            case .waiting(let continuation):
                state = .delivered
                return (true, continuation)
            case .settled, .delivered:
                return (false, nil)
            }
        }
        waiter?.resume(with: result)
        return won
    }

    /// Waits for the race to be settled (called once).
    package func value() async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            let settled: Result<Value, any Error>? = state.withLock { state in
                switch state {
                case .settled(let result):
                    state = .delivered
                    return result
                case .pending:
                    state = .waiting(continuation)
                    return nil
                case .waiting, .delivered:
                    preconditionFailure("a race's outcome is awaited once")
                }
            }
            if let settled { continuation.resume(with: settled) }
        }
    }
}
