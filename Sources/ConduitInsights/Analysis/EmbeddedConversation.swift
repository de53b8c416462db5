import ConduitEmbeddings

/// A conversation as the embedding model sees it: its sentences, their vectors, and the whole's vector
/// (their normalised mean), which the analyzers and the semantic cache compare.
package struct EmbeddedConversation: Sendable {
    package var sentences: [String]
    /// Who said each sentence, and in which message.
    package var roles: [String]
    package var messages: [Int]
    package var sentenceVectors: [[Float]]
    package var vector: [Float]
    package var tokens: Int
    /// The served model's name: vectors of different models are not compared.
    package var model: String
    /// The share of the text's tokens the model does not know (a script its vocabulary lacks): the
    /// vector of such a text says little, and is alike for all of them.
    package var unknownShare: Double
}

extension EmbeddedConversation {
    /// What `roles` said, as a vector: the normalised mean of their sentences, with their last message's
    /// (normalised) mean added at half weight, since where feelings are mixed the last word tells most
    /// (it scored 3 points better in cross-validation on the built-in examples; `benchmarks/insights/`).
    /// The whole's vector when they said nothing, or `roles` is empty.
    package func vector(of roles: [String]) -> [Float] {
        let said = self.roles.indices.filter { roles.contains(self.roles[$0]) }
        guard let last = said.last else { return vector }
        let whole = mean(of: said)
        let lastWords = mean(of: said.filter { messages[$0] == messages[last] })
        return TextEmbedder.unit(zip(whole, lastWords).map { $0 + Self.lastMessageWeight * $1 })
    }

    package static let lastMessageWeight: Float = 0.5

    private func mean(of sentences: [Int]) -> [Float] {
        var sum = [Float](repeating: 0, count: vector.count)
        for sentence in sentences { for index in sum.indices { sum[index] += sentenceVectors[sentence][index] } }
        return TextEmbedder.unit(sum)
    }
}

extension TextEmbedder {
    /// The conversation's sentences embedded, and their normalised mean.
    package func embed(_ text: ConversationText, with served: ServedModel) async throws -> EmbeddedConversation {
        let spoken = text.spokenSentences(limit: LocalAnalyzer.maxSentences)
        // A text with no sentence (emoji alone, say) is embedded whole.
        let pieces = spoken.isEmpty ? [text.plain] : spoken.map(\.sentence)
        let roles = spoken.isEmpty ? [text.messages.first?.role ?? ""] : spoken.map(\.role)
        let messages = spoken.isEmpty ? [0] : spoken.map(\.message)
        let (vectors, tokens, unknownShare) = try await embedMeasuring(pieces, with: served)
        var mean = [Float](repeating: 0, count: vectors[0].count)
        for vector in vectors { for index in mean.indices { mean[index] += vector[index] } }
        return EmbeddedConversation(
            sentences: pieces, roles: roles, messages: messages, sentenceVectors: vectors, vector: Self.unit(mean), tokens: tokens,
            model: served.name,
            unknownShare: unknownShare)
    }
}
