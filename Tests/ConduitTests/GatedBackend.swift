import ConduitEmbeddings
import ConduitTestSupport
import Foundation
import Synchronization

/// A backend whose batches stay in the model until the test lets them through: "the model is busy"
/// for as long as a test needs, with no computing and no timing to guess. Each sequence's vector is
/// its first token id and its length.
final class GatedBackend: EmbeddingBackend {
    let laneCount: Int
    private let state = Mutex((open: false, started: 0, released: [Int?]()))

    init(laneCount: Int = 2) { self.laneCount = laneCount }

    /// Batches that have entered the model so far.
    var started: Int { state.withLock { $0.started } }

    /// The lanes whose scratch memory the scheduler handed back, in order (nil: the shared pass's).
    var released: [Int?] { state.withLock { $0.released } }

    func releaseScratch(lane: Int?) { state.withLock { $0.released.append(lane) } }

    /// Lets every waiting batch, and every later one, through.
    func open() { state.withLock { $0.open = true } }

    func embed(_ sequences: [[Int32]], lane: Int?) throws -> [[Float]] {
        state.withLock { $0.started += 1 }
        // The scheduler's own compute thread: blocking it is what a long forward pass does.
        while !state.withLock({ $0.open }) { usleep(1000) }
        return sequences.map { [Float($0.first ?? 0), Float($0.count)] }
    }

    /// Waits until `count` batches have entered the model.
    func untilStarted(_ count: Int) async throws {
        let entered = try await eventually(within: .seconds(30), every: .milliseconds(1)) { started >= count }
        guard entered else { throw TestSetupError("\(count) batches did not start within 30 s") }
    }
}
