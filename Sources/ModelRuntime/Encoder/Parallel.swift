import CKernels
import Foundation
import Synchronization

/// Splits the CPU work of one forward pass across the calling thread and `threads - 1` workers of
/// its own.
///
/// A forward pass of a short text is some thirty steps of a few dozen microseconds each. Waking a
/// sleeping thread for every step (as `DispatchQueue.concurrentPerform` does) costs about as much as
/// a step, so the workers spin for a while after each job and sleep only when no job follows.
///
/// Work is cut into more units than threads and each thread takes the next unit when it is free:
/// a server runs HTTP and tokenization on the same cores, and with one fixed share per thread, a
/// thread that the system preempts holds up the pass while the others wait idle at the end. A
/// worker that has not woken up yet simply finds every unit taken.
///
/// One caller at a time: `BertEncoder` serializes its forward passes.
final class Parallel: Sendable {
    let threads: Int
    private let state: SharedState

    init(threads: Int) {
        self.threads = max(1, threads)
        state = SharedState(workers: self.threads - 1)
        for index in 0..<state.workers.count {
            let state = state
            let thread = Thread {
                EncoderThreads.lowerCurrentThreadPriority()
                state.work(as: index)
            }
            thread.name = "conduit-encoder-\(index + 1)"
            thread.start()
        }
    }

    deinit { state.stop() }

    /// Runs `body(thread, unit)` once for each unit in `0..<units` and returns when all have run;
    /// `thread` (below `threads`) tells which scratch memory the unit may use.
    func forEachUnit(_ units: Int, _ body: (_ thread: Int, _ unit: Int) -> Void) {
        if threads == 1 || units <= 1 {
            for unit in 0..<units { body(0, unit) }
            return
        }
        withoutActuallyEscaping(body) { body in state.run(units: units, body) }
    }
}

/// What the caller and the workers share. Workers hold this, not the `Parallel`, so that the
/// encoder's release stops them.
private final class SharedState: @unchecked Sendable {
    // @unchecked: `job` is written by the caller only while no unit can be claimed (before the
    // ticket that publishes it, after every unit has completed) and read by a thread only after it
    // has claimed a unit of that job.
    final class Worker: Sendable {
        let asleep = Atomic<Bool>(false)
        let wake = DispatchSemaphore(value: 0)
    }

    let workers: [Worker]
    private nonisolated(unsafe) var job: ((Int, Int) -> Void)?
    private nonisolated(unsafe) var generation: UInt64 = 0
    /// The job's generation, unit count and next unit to hand out, in one word: a thread that claims
    /// a unit by compare-and-swap on it cannot claim a unit of a job that has already finished.
    private let ticket = Atomic<UInt64>(0)
    private let completed = Atomic<Int>(0)
    /// The caller has stopped spinning and sleeps on `finished` until the last unit completes.
    private let callerAsleep = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    private let stopping = Atomic<Bool>(false)

    private static let unitBits: UInt64 = 20
    private static let unitMask: UInt64 = (1 << unitBits) - 1
    /// How long an idle worker spins before it goes to sleep: longer than the gap between two steps
    /// of a forward pass. Timed by the clock (read every `spinsPerClockRead` pauses), since a pause
    /// lasts from one to a hundred cycles depending on the CPU.
    private static let spinBeforeSleep = Duration.microseconds(100)
    private static let spinsPerClockRead = 64
    /// How long the caller spins for the last units before it sleeps: longer than a unit of work
    /// (up to a millisecond in a large batch), so it sleeps only when a worker was preempted.
    private static let callerSpinBeforeSleep = Duration.milliseconds(2)

    init(workers: Int) {
        self.workers = (0..<workers).map { _ in Worker() }
    }

    func run(units: Int, _ body: @escaping (Int, Int) -> Void) {
        precondition(UInt64(units) <= Self.unitMask, "at most \(Self.unitMask) units per job")
        job = body
        completed.store(0, ordering: .relaxed)
        generation += 1
        ticket.store(generation << (2 * Self.unitBits) | UInt64(units) << Self.unitBits, ordering: .sequentiallyConsistent)
        for worker in workers where worker.asleep.exchange(false, ordering: .sequentiallyConsistent) {
            worker.wake.signal()
        }
        while let (unit, _) = claim() {
            body(0, unit)
            completed.add(1, ordering: .releasing)
        }
        // The units left are running on workers: spin for them a while, then sleep until the last
        // one is done (a worker the system preempted may take a scheduler tick to come back, and
        // spinning would only hold the core it needs).
        var spin = SpinBudget(limit: Self.callerSpinBeforeSleep)
        while completed.load(ordering: .acquiring) < units {
            if spin.continues() {
                conduit_cpu_relax()
                continue
            }
            callerAsleep.store(true, ordering: .sequentiallyConsistent)
            if completed.load(ordering: .sequentiallyConsistent) < units {
                finished.wait()
            } else if !callerAsleep.exchange(false, ordering: .sequentiallyConsistent) {
                finished.wait()  // the last worker cleared the flag: its signal is on its way
            }
        }
        job = nil
    }

    /// Takes the next unit of the current job, if one is left; also says how many units the job has.
    private func claim() -> (unit: Int, units: Int)? {
        var current = ticket.load(ordering: .acquiring)
        while true {
            let next = current & Self.unitMask
            let units = (current >> Self.unitBits) & Self.unitMask
            guard next < units else { return nil }
            let (exchanged, original) = ticket.compareExchange(
                expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return (Int(next), Int(units)) }
            current = original
        }
    }

    func work(as index: Int) {
        let worker = workers[index]
        var spin = SpinBudget()
        while !stopping.load(ordering: .relaxed) {
            if let (unit, units) = claim() {
                job!(index + 1, unit)
                let done = completed.add(1, ordering: .sequentiallyConsistent).newValue
                // Whoever clears the flag owns the wake-up.
                if done == units, callerAsleep.exchange(false, ordering: .sequentiallyConsistent) { finished.signal() }
                spin = SpinBudget()
                continue
            }
            if spin.continues() {
                conduit_cpu_relax()
                continue
            }
            spin = SpinBudget()
            // Announce the sleep, then look once more: a caller that published a job before seeing
            // the announcement is seen here, and one that published after it sends a wake-up.
            worker.asleep.store(true, ordering: .sequentiallyConsistent)
            if hasWork() || stopping.load(ordering: .sequentiallyConsistent) {
                // Whoever clears the flag owns the wake-up: if the caller did, its signal is pending.
                if !worker.asleep.exchange(false, ordering: .sequentiallyConsistent) { worker.wake.wait() }
                continue
            }
            worker.wake.wait()
        }
    }

    /// Counts spins and says when `limit` has passed.
    private struct SpinBudget {
        private let limit: Duration
        private var spins = 0
        private var deadline: ContinuousClock.Instant?

        init(limit: Duration = SharedState.spinBeforeSleep) { self.limit = limit }

        mutating func continues() -> Bool {
            spins += 1
            guard spins % SharedState.spinsPerClockRead == 0 else { return true }
            let now = ContinuousClock.now
            guard let deadline else {
                deadline = now + limit
                return true
            }
            return now < deadline
        }
    }

    private func hasWork() -> Bool {
        let current = ticket.load(ordering: .sequentiallyConsistent)
        return current & Self.unitMask < (current >> Self.unitBits) & Self.unitMask
    }

    func stop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        for worker in workers where worker.asleep.exchange(false, ordering: .sequentiallyConsistent) {
            worker.wake.signal()
        }
    }
}
