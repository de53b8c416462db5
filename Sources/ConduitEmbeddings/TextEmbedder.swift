import ModelRuntime
import Synchronization

/// Embeds the texts of pipelines at background priority, each text cut to what the model takes. A job
/// resolves the default model once and passes it to every call, so that a reload in the middle cannot
/// mix two models' vectors. Label descriptions are embedded once per model and kept.
package struct TextEmbedder: Sendable {
    package let catalog: ModelCatalog
    private let labelVectors = LabelVectors()

    package init(catalog: ModelCatalog) { self.catalog = catalog }

    /// Unit vectors for `texts`, and the tokens they took.
    package func embed(_ texts: [String], with served: ServedModel) async throws -> (vectors: [[Float]], tokens: Int) {
        let (vectors, sequences) = try await embedSequences(texts, with: served)
        return (vectors, sequences.reduce(0) { $0 + $1.count })
    }

    /// Unit vectors and the token ids they were computed from.
    private func embedSequences(_ texts: [String], with served: ServedModel) async throws -> (vectors: [[Float]], sequences: [[Int32]]) {
        let sequences = texts.map { served.model.tokenize($0).ids }
        return (try await served.scheduler.embedInBackground(sequences).map(Self.unit), sequences)
    }

    /// A unit vector for each of `texts` at the priority of a request someone waits for: the router's input.
    package func embedInteractive(_ texts: [String], with served: ServedModel, tenant: String) async throws -> [[Float]] {
        let sequences = texts.map { served.model.tokenize($0).ids }
        return try await served.scheduler.embedTimed(sequences, priority: .interactive, tenant: tenant).vectors.map(Self.unit)
    }

    /// Vectors of texts that recur (labels, an agent's utterances), each embedded once per model: in the
    /// background, or as a request someone waits for when `waitingTenant` names whose.
    package func embedCached(_ texts: [String], with served: ServedModel, waitingTenant: String? = nil) async throws -> [[Float]] {
        let model = served.name
        var known = labelVectors.lookup(texts, model: model)
        let missing = Array(Set(texts).subtracting(known.keys))
        if !missing.isEmpty {
            var computed: [[Float]] = []
            if let waitingTenant {
                // In slices: one batch of hundreds of texts would hold the model from other requests.
                for start in stride(from: 0, to: missing.count, by: 64) {
                    computed += try await embedInteractive(
                        Array(missing[start..<min(start + 64, missing.count)]), with: served, tenant: waitingTenant)
                }
            } else {
                computed = try await embed(missing, with: served).vectors
            }
            labelVectors.store(computed, for: missing, model: model)
            for (text, vector) in zip(missing, computed) { known[text] = vector }
        }
        return texts.map { known[$0]! }
    }

    /// Unit vectors for `texts`, with what the model made of them: their tokens, and the share of those
    /// (special tokens aside) the model does not know, which says how little a vector may mean.
    package func embedMeasuring(_ texts: [String], with served: ServedModel) async throws -> (
        vectors: [[Float]], tokens: Int, unknownShare: Double
    ) {
        let (vectors, sequences) = try await embedSequences(texts, with: served)
        let tokens = sequences.reduce(0) { $0 + $1.count }
        let special = sequences.count * served.model.tokenizer.specialTokenCount
        let unknown = sequences.reduce(0) { $0 + $1.count { $0 == served.model.tokenizer.unknownTokenID } }
        return (vectors, tokens, tokens > special ? Double(unknown) / Double(tokens - special) : 1)
    }

    package static func unit(_ vector: [Float]) -> [Float] {
        var copy = vector
        copy.withUnsafeMutableBufferPointer { EmbeddingModel.normalize($0) }
        return copy
    }
}

/// Label descriptions' vectors by model and text: pipelines keep their labels, and a reload that changes
/// one embeds only that one.
private final class LabelVectors: Sendable {
    private let vectors = Mutex<[String: [Float]]>([:])

    func lookup(_ texts: [String], model: String) -> [String: [Float]] {
        vectors.withLock { known in
            Dictionary(texts.compactMap { text in known[Self.key(text, model)].map { (text, $0) } }) { first, _ in first }
        }
    }

    func store(_ computed: [[Float]], for texts: [String], model: String) {
        vectors.withLock { known in for (text, vector) in zip(texts, computed) { known[Self.key(text, model)] = vector } }
    }

    private static func key(_ text: String, _ model: String) -> String { model + "\u{0}" + text }
}
