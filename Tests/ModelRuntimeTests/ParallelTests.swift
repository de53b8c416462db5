import Foundation
import Synchronization
import Testing

@testable import ModelRuntime

@Suite("Forward-pass thread pool")
struct ParallelTests {
    @Test("every unit of every job runs exactly once, on a thread index below the pool's size")
    func everyUnitOnce() {
        let parallel = Parallel(threads: 3)
        let sizes = [0, 1, 2, 3, 7, 64, 4096]
        let runs = Mutex([Int](repeating: 0, count: 4096))
        let threads = Mutex(Set<Int>())
        // Jobs of every size back to back, with pauses long enough for the workers to fall asleep
        // between some of them: both the spinning and the waking hand-off are exercised.
        for job in 0..<600 {
            parallel.forEachUnit(sizes[job % sizes.count]) { thread, unit in
                threads.withLock { _ = $0.insert(thread) }
                runs.withLock { $0[unit] += 1 }
            }
            if job % 50 == 0 { Thread.sleep(forTimeInterval: 0.001) }
        }
        let expected = (0..<4096).map { unit in (0..<600).count { job in unit < sizes[job % sizes.count] } }
        #expect(runs.withLock { $0 } == expected)
        #expect(threads.withLock { $0.isSubset(of: [0, 1, 2]) })
    }

    @Test("a job returns only after its slowest unit has finished, the caller woken when it does")
    func waitsForAllUnits() {
        let parallel = Parallel(threads: 2)
        for _ in 0..<20 {
            let finished = Mutex(0)
            parallel.forEachUnit(4) { _, unit in
                if unit == 3 { Thread.sleep(forTimeInterval: 0.005) }  // past the caller's spin: it sleeps until woken
                finished.withLock { $0 += 1 }
            }
            #expect(finished.withLock { $0 } == 4)
        }
    }
}
