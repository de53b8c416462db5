import ConduitEmbeddings
import ConduitTestSupport
import Foundation
import Synchronization

/// A model on one lane that takes `secondsPerToken` of a manual clock for each token it computes, and
/// blocks while held: the scheduler measures from it a throughput the test chose.
final class PacedBackend: EmbeddingBackend {
    let laneCount = 1
    private let clock: ManualClock
    private let secondsPerToken: Double
    private let state = Mutex((held: false, started: 0))

    init(clock: ManualClock, secondsPerToken: Double) {
        self.clock = clock
        self.secondsPerToken = secondsPerToken
    }

    var started: Int { state.withLock { $0.started } }

    func hold() { state.withLock { $0.held = true } }
    func release() { state.withLock { $0.held = false } }
    func releaseScratch(lane: Int?) {}

    func embed(_ sequences: [[Int32]], lane: Int?) throws -> [[Float]] {
        state.withLock { $0.started += 1 }
        // The scheduler's own compute thread: blocking it is what a long forward pass does.
        while state.withLock({ $0.held }) { usleep(1000) }
        clock.advance(by: .seconds(Double(sequences.reduce(0) { $0 + $1.count }) * secondsPerToken))
        return sequences.map { [Float($0.count)] }
    }

    /// Waits until `count` batches have entered the model.
    func untilStarted(_ count: Int) async throws {
        let entered = try await eventually(within: .seconds(30), every: .milliseconds(1)) { started >= count }
        guard entered else { throw TestSetupError("\(count) batches did not start within 30 s") }
    }
}
