/// Waits for what a test cannot await: work on another task, a timer, a file watcher, another process.
/// The one loop in the tests that sleeps, so that every such wait has a deadline and none gives up on
/// the first look that comes too early.
///
/// - Returns: the first value `probe` gives, or nil once `timeout` has passed. The probe runs once more at
///   the deadline, so a slow machine that got there just in time is not failed for a sleep it overslept.
@_disfavoredOverload  // a Bool closure fits `Value?` too, and under `try?` would pick this one: the first `false` would end the wait
public func eventually<Value>(
    within timeout: Duration = .seconds(30), every interval: Duration = .milliseconds(20),
    _ probe: () async throws -> Value?
) async throws -> Value? {
    let deadline = ContinuousClock.now + timeout
    while true {
        if let value = try await probe() { return value }
        let now = ContinuousClock.now
        if now >= deadline { return nil }
        try await Task.sleep(for: min(interval, deadline - now))
    }
}

/// Waits until `condition` holds; whether it did before `timeout` passed. Callers that only need the
/// state it waited for, and check it with their own message, may ignore the answer.
@discardableResult
public func eventually(
    within timeout: Duration = .seconds(30), every interval: Duration = .milliseconds(20),
    _ condition: () async throws -> Bool
) async throws -> Bool {
    try await eventually(within: timeout, every: interval) { try await condition() ? true : nil } ?? false
}
