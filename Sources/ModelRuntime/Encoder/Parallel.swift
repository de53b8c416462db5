import Dispatch
import Synchronization

/// Splits CPU work of one forward pass across a fixed number of threads.
///
/// Work is cut into more units than threads and each thread takes the next unit when it is free:
/// a server runs HTTP and tokenization on the same cores, and with one fixed share per thread, a
/// thread that the system preempts holds up the pass while the other one waits idle at the end.
struct Parallel: Sendable {
    let threads: Int

    /// Runs `body(thread, unit)` once for each unit in `0..<units`, on up to `threads` threads;
    /// `thread` (below `threads`) tells which scratch memory the unit may use.
    @inline(__always)
    func forEachUnit(_ units: Int, _ body: (_ thread: Int, _ unit: Int) -> Void) {
        let workers = min(threads, units)
        if workers <= 1 {
            for unit in 0..<units { body(0, unit) }
            return
        }
        let next = Atomic<Int>(0)
        withoutActuallyEscaping(body) { body in
            let work = UncheckedWork(body: body)
            DispatchQueue.concurrentPerform(iterations: workers) { thread in
                while true {
                    let unit = next.add(1, ordering: .relaxed).oldValue
                    guard unit < units else { return }
                    work.body(thread, unit)
                }
            }
        }
    }

    /// Safe to share because `concurrentPerform` returns only after every part has finished, so the
    /// closure never outlives the call, and callers give each unit disjoint memory to write.
    private struct UncheckedWork: @unchecked Sendable {
        let body: (Int, Int) -> Void
    }
}
