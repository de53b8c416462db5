import ConduitEmbeddings

/// A conversation as the embedding model sees it: its sentences, their vectors, and the whole's vector
/// (their normalised mean), which the analyzers and the semantic cache compare.
package struct EmbeddedConversation: Sendable {
    package var sentences: [String]
    package var sentenceVectors: [[Float]]
    package var vector: [Float]
    package var tokens: Int
    /// The served model's name: vectors of different models are not compared.
    package var model: String
    /// The share of the text's tokens the model does not know (a script its vocabulary lacks): the
    /// vector of such a text says little, and is alike for all of them.
    package var unknownShare: Double
}

extension TextEmbedder {
    /// The conversation's sentences embedded, and their normalised mean.
    package func embed(_ text: ConversationText, with served: ServedModel) async throws -> EmbeddedConversation {
        let sentences = text.sentences(limit: LocalAnalyzer.maxSentences)
        // A text with no sentence (emoji alone, say) is embedded whole.
        let pieces = sentences.isEmpty ? [text.plain] : sentences
        let (vectors, tokens, unknownShare) = try await embedMeasuring(pieces, with: served)
        var mean = [Float](repeating: 0, count: vectors[0].count)
        for vector in vectors { for index in mean.indices { mean[index] += vector[index] } }
        return EmbeddedConversation(
            sentences: pieces, sentenceVectors: vectors, vector: Self.unit(mean), tokens: tokens, model: served.name,
            unknownShare: unknownShare)
    }
}
