import Foundation

/// Runs `body` on a thread of its own and waits for it without holding one of the cooperative pool's
/// threads (as many as the cores): a forward pass of seconds there would stall every other test's awaits.
public func onOwnThread<Value: Sendable>(_ body: @escaping @Sendable () throws -> Value) async throws -> Value {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
