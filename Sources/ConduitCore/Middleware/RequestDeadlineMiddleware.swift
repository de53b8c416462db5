import Hummingbird

/// Gives every request a deadline from its head to its answer, so that a client trickling its body
/// (or a handler stuck on a dependency) cannot hold a connection and a task forever; past it the
/// handler is cancelled and the client gets 408.
package struct RequestDeadlineMiddleware: RouterMiddleware {
    package typealias Context = ConduitRequestContext

    /// The deadline of a request to `path` (a route that bounds its own work may have a longer one).
    package let timeout: @Sendable (_ path: String) -> Duration

    package init(timeout: Duration) {
        self.timeout = { _ in timeout }
    }

    package init(timeout: @escaping @Sendable (_ path: String) -> Duration) {
        self.timeout = timeout
    }

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let timeout = timeout(request.uri.path)
        return try await withoutActuallyEscaping(next) { next in
            let handler = Handler(next: next)
            return try await withThrowingTaskGroup(of: Response.self) { group in
                group.addTask { try await handler.next(request, context) }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    // Connection: close, since the body may be half read and the connection cannot carry another request.
                    throw APIError(
                        status: .requestTimeout, message: "the request did not complete within \(timeout)", code: "request_timeout",
                        headers: [.connection: "close"])
                }
                defer { group.cancelAll() }
                return try await group.next()!
            }
        }
    }

    /// Safe to share: the task group returns only after both of its tasks have ended, so `next` never
    /// outlives this call, and only one task calls it.
    private struct Handler: @unchecked Sendable {
        let next: (Request, Context) async throws -> Response
    }
}
