import Dispatch

/// Splits CPU work of one forward pass across a fixed number of threads.
struct Parallel: Sendable {
    let threads: Int

    /// Runs `body(part)` for each part in `0..<parts`, concurrently when there is more than one thread.
    @inline(__always)
    func forEach(_ parts: Int, _ body: (Int) -> Void) {
        if parts <= 1 || threads <= 1 {
            for part in 0..<parts { body(part) }
        } else {
            withoutActuallyEscaping(body) { body in
                let work = UncheckedWork(body: body)
                DispatchQueue.concurrentPerform(iterations: parts) { work.body($0) }
            }
        }
    }

    /// Safe to share because `concurrentPerform` returns only after every part has finished, so the
    /// closure never outlives the call, and callers give each part disjoint memory to write.
    private struct UncheckedWork: @unchecked Sendable {
        let body: (Int) -> Void
    }

    /// `0..<count` cut into `threads` nearly equal contiguous ranges (fewer when `count` is small).
    func chunks(_ count: Int, minimum: Int = 1) -> [Range<Int>] {
        let parts = max(1, min(threads, count / max(minimum, 1)))
        return (0..<parts).map { part in (count * part / parts)..<(count * (part + 1) / parts) }
    }
}
