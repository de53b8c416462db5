import ModelRuntime

/// What the scheduler runs its batches on: the local model, or a stand-in in tests that decides when
/// a batch finishes.
public protocol EmbeddingBackend: Sendable {
    /// Batches that may run side by side, one a lane (a thread with scratch memory of its own).
    var laneCount: Int { get }
    /// The vectors of `sequences`, computed on `lane`, or shared among every lane when nil. Called on
    /// the scheduler's own threads, which it may block.
    func embed(_ sequences: [[Int32]], lane: Int?) throws -> [[Float]]
    /// Called when `lane` (the shared pass when nil) has no more work for now: memory kept for the
    /// next pass may be handed back.
    func releaseScratch(lane: Int?)
}

extension EmbeddingModel: EmbeddingBackend {}
