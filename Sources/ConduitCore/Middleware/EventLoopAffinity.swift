import Hummingbird
import NIOCore
import Synchronization

/// Runs each request's handling in a task of its own, on the event loop of its connection.
///
/// A task of its own: a task keeps the memory its deepest await chain needed (the runtime frees a
/// task's stack slabs only when the task ends), and the middleware chain, authentication and the store
/// call under it need some 35 KB. Handled in the connection's task, every idle keep-alive connection,
/// event stream and WebSocket held that much for its whole life; in a child task it is given back when
/// the answer is ready, and the connection's task keeps only what writing the body needs.
///
/// On the loop: the awaits of a request then resume where its bytes are read and written, and the
/// HTTP client, which prefers the loop it is called from, calls upstreams from there too. Without it a
/// request hops between threads at every await (a futex wake and a context switch each, tens of
/// microseconds on a small machine).
package struct EventLoopAffinity: RouterMiddleware {
    package typealias Context = ConduitRequestContext

    package init() {}

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let loop = EventLoopExecutor.of(context.channel.eventLoop)
        return try await withoutActuallyEscaping(next) { next in
            let handler = ScopedNext(next)
            return try await withThrowingTaskGroup(of: Response.self) { group in
                group.addTask(executorPreference: loop) { try await handler.next(request, context) }
                guard let response = try await group.next() else { throw CancellationError() }
                return response
            }
        }
    }
}

/// A middleware's `next`, handed to a child task of the group that the middleware awaits. Safe to
/// share: the group returns only after its tasks have ended, so `next` never outlives the call that
/// was given it, and only that one task calls it.
package struct ScopedNext<Context: RequestContext>: @unchecked Sendable {
    package let next: (Request, Context) async throws -> Response

    package init(_ next: @escaping (Request, Context) async throws -> Response) { self.next = next }
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
