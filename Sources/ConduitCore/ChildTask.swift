/// Runs `body` in a child task and returns what it returns. For the store calls of a task that lives as
/// long as a connection (an event stream, a socket's subscription): a task keeps the stack slabs of its
/// deepest await chain until it ends, and a store call's chain (tracing, the driver, its thread pool)
/// needs several KB; in a child task they are given back when the call returns.
package func inChildTask<Result: Sendable>(_ body: @escaping @Sendable () async throws -> Result) async throws -> Result {
    try await withThrowingTaskGroup(of: Result.self) { group in
        group.addTask(operation: body)
        guard let result = try await group.next() else { throw CancellationError() }
        return result
    }
}
