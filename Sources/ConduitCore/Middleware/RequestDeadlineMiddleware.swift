import Hummingbird
import NIOCore
import NIOPosix
import Store

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
            let handler = ScopedNext(next)
            return try await withThrowingTaskGroup(of: Void.self) { group in
                let outcome = FirstOutcome<Response>()
                group.addTask {
                    do { outcome.settle(.success(try await handler.next(request, context))) } catch { outcome.settle(.failure(error)) }
                }
                // An event loop keeps the time, the one this runs on (its connection's, `EventLoopAffinity`): a timer
                // there costs no thread of its own, where `Task.sleep` arms one on Dispatch's manager thread and wakes
                // it, twice a request.
                let timekeeper = MultiThreadedEventLoopGroup.currentEventLoop ?? MultiThreadedEventLoopGroup.singleton.next()
                let expiry = timekeeper.scheduleTask(in: TimeAmount(timeout)) {
                    // Connection: close, since the body may be half read and the connection cannot carry another request.
                    outcome.settle(
                        .failure(
                            APIError(
                                status: .requestTimeout, message: "the request did not complete within \(timeout)", code: "request_timeout",
                                headers: [.connection: "close"])))
                }
                defer {
                    expiry.cancel()
                    group.cancelAll()
                }
                return try await withTaskCancellationHandler {
                    try await outcome.value()
                } onCancel: {
                    outcome.settle(.failure(CancellationError()))
                }
            }
        }
    }
}
