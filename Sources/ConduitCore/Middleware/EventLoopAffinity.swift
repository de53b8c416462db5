import Hummingbird
import NIOCore
import Synchronization

/// Runs each request's handling on the event loop of its connection: the awaits of a request then
/// resume where its bytes are read and written, and the HTTP client, which prefers the loop it is called
/// from, calls upstreams from there too. Without it a request hops between threads at every await
/// (a futex wake and a context switch each, tens of microseconds on a small machine).
package struct EventLoopAffinity: RouterMiddleware {
    package typealias Context = ConduitRequestContext

    package init() {}

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try await withTaskExecutorPreference(EventLoopExecutor.of(context.channel.eventLoop)) { try await next(request, context) }
    }
}

/// An event loop as a task executor: jobs run on the loop's thread.
package final class EventLoopExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    private init(_ eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    package func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }

    /// One executor per loop, made once: the loops live as long as the process.
    private static let made = Mutex<[ObjectIdentifier: EventLoopExecutor]>([:])

    package static func of(_ eventLoop: any EventLoop) -> EventLoopExecutor {
        made.withLock { made in
            if let executor = made[ObjectIdentifier(eventLoop)] { return executor }
            let executor = EventLoopExecutor(eventLoop)
            made[ObjectIdentifier(eventLoop)] = executor
            return executor
        }
    }
}
