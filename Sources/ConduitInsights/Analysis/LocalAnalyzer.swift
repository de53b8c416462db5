import ConduitCore
import ConduitEmbeddings
import Foundation

/// Analyses conversations offline with the embedding model, zero-shot: the sentiment and topics whose
/// descriptions the conversation is most similar to, key phrases by how central they are to it (their
/// similarity to the whole), and an extractive summary of its most central sentences.
package struct LocalAnalyzer: Sendable {
    package let embedder: TextEmbedder
    package let served: ServedModel

    /// Most sentences embedded per conversation; a longer one is analysed on its first ones.
    package static let maxSentences = 128
    /// Most candidate key phrases embedded per conversation.
    package static let maxPhraseCandidates = 48

    package func analyze(_ text: ConversationText, embedded: EmbeddedConversation, pipeline: PipelineDefinition) async throws -> Analysis {
        let document = embedded.vector
        let sentimentLabels = pipeline.sentiment.keys.sorted()
        let topicLabels = pipeline.topics.keys.sorted()
        let labelVectors = try await embedder.embedCached(
            sentimentLabels.map { pipeline.sentiment[$0]! } + topicLabels.map { pipeline.topics[$0]! }, with: served)
        let sentimentScores = labelVectors.prefix(sentimentLabels.count).map { cosineSimilarity($0, document) }
        let topicScores = labelVectors.dropFirst(sentimentLabels.count).map { cosineSimilarity($0, document) }

        let probabilities = Self.softmax(sentimentScores, temperature: pipeline.confidenceTemperature)
        let best = probabilities.indices.max { probabilities[$0] < probabilities[$1] }!
        let topics = zip(topicLabels, topicScores).filter { $0.1 >= Float(pipeline.topicThreshold) }
            .sorted { $0.1 > $1.1 }.prefix(pipeline.maxTopics)
            .map { Analysis.Scored(label: $0.0, score: Self.rounded($0.1)) }
        let (keyPhrases, summary, tokens) = try await extract(text, embedded: embedded, pipeline: pipeline)
        return Analysis(
            sentiment: .init(label: sentimentLabels[best], score: Self.rounded(probabilities[best])), topics: Array(topics),
            keyPhrases: keyPhrases, summary: summary, confidence: Self.rounded(probabilities[best]), analyzer: "local",
            usage: .init(promptTokens: embedded.tokens + tokens, completionTokens: 0), costUSD: nil)
    }

    /// What is taken from the conversation's own words: key phrases, the summary, and the tokens it cost
    /// (beyond the conversation's embedding). A semantic cache hit reuses the labels of a similar
    /// conversation but never its words.
    package func extract(_ text: ConversationText, embedded: EmbeddedConversation, pipeline: PipelineDefinition) async throws -> (
        keyPhrases: [String], summary: String, tokens: Int
    ) {
        let document = embedded.vector
        var tokens = 0
        var keyPhrases: [String] = []
        if pipeline.keyPhrases > 0 {
            let candidates = text.phraseCandidates(limit: Self.maxPhraseCandidates)
            if !candidates.isEmpty {
                let (vectors, used) = try await embedder.embed(candidates, with: served)
                tokens += used
                keyPhrases = Self.diverseTop(candidates, vectors: vectors, near: document, count: pipeline.keyPhrases)
            }
        }
        let central = embedded.sentenceVectors.indices.sorted {
            cosineSimilarity(embedded.sentenceVectors[$0], document) > cosineSimilarity(embedded.sentenceVectors[$1], document)
        }
        let summary = central.prefix(pipeline.summarySentences).sorted().map { embedded.sentences[$0] }.joined(separator: " ")
        return (keyPhrases, summary, tokens)
    }

    package static func softmax(_ scores: [Float], temperature: Double) -> [Float] {
        let scaled = scores.map { $0 / Float(temperature) }
        let top = scaled.max() ?? 0
        let exponentials = scaled.map { ($0 - top).exp }
        let total = exponentials.reduce(0, +)
        return exponentials.map { $0 / total }
    }

    /// The `count` candidates most similar to `document`, each next one penalised by its similarity to
    /// those already taken (maximal marginal relevance), so that near-repeats are not all chosen.
    package static func diverseTop(_ candidates: [String], vectors: [[Float]], near document: [Float], count: Int) -> [String] {
        let relevance = vectors.map { cosineSimilarity($0, document) }
        // Each candidate's greatest similarity to one already chosen, updated as each is chosen.
        var redundancy = [Float](repeating: 0, count: candidates.count)
        var left = Array(candidates.indices)
        var chosen: [Int] = []
        while chosen.count < count, !left.isEmpty {
            let scores = left.map { 0.7 * relevance[$0] - 0.3 * redundancy[$0] }
            // The first of equal scores: candidates in order of appearance.
            let best = scores.indices.max { scores[$0] < scores[$1] || (scores[$0] == scores[$1] && $0 > $1) }!
            let next = left.remove(at: best)
            chosen.append(next)
            for index in left { redundancy[index] = max(redundancy[index], cosineSimilarity(vectors[index], vectors[next])) }
        }
        return chosen.map { candidates[$0] }
    }

    /// Four decimals: scores are compared and shown, not computed with.
    package static func rounded(_ value: Float) -> Double { (Double(value) * 10_000).rounded() / 10_000 }
}

extension Float {
    fileprivate var exp: Float { Float(Foundation.exp(Double(self))) }
}
