import ConduitCore
import ConduitEmbeddings
import Foundation
import VectorClassifiers

/// Analyses conversations offline with the embedding model. A field (sentiment, topics) whose labels
/// have examples is classified by a classifier fitted on them (`ExampleClassifiers`), with calibrated
/// probabilities; one without is zero-shot: the labels whose descriptions the conversation is most similar
/// to. Sentiment is read from `sentiment_roles`' messages only. Key phrases are chosen by how central they
/// are to the conversation (their similarity to the whole), and the summary is its most central sentences.
package struct LocalAnalyzer: Sendable {
    package let embedder: TextEmbedder
    package let served: ServedModel
    package let classifiers: ExampleClassifiers

    package init(embedder: TextEmbedder, served: ServedModel, classifiers: ExampleClassifiers) {
        self.embedder = embedder
        self.served = served
        self.classifiers = classifiers
    }

    /// Most sentences embedded per conversation; a longer one is analysed on its first ones.
    package static let maxSentences = 128
    /// Most candidate key phrases embedded per conversation.
    package static let maxPhraseCandidates = 48

    package func analyze(_ text: ConversationText, embedded: EmbeddedConversation, pipeline: PipelineDefinition) async throws -> Analysis {
        var analysis = try await classify(embedded, pipeline: pipeline)
        let (keyPhrases, summary, tokens) = try await extract(text, embedded: embedded, pipeline: pipeline)
        analysis.keyPhrases = keyPhrases
        analysis.summary = summary
        analysis.usage.promptTokens += tokens
        return analysis
    }

    /// The labels alone: sentiment, topics and the confidence that both are right.
    package func classify(_ embedded: EmbeddedConversation, pipeline: PipelineDefinition) async throws -> Analysis {
        let fitted = try await classifiers.classifiers(for: pipeline, embedder: embedder, served: served)
        let spoken = embedded.vector(of: pipeline.sentimentRoles)
        let sentiment: Analysis.Scored
        if let classifier = fitted.sentiment {
            sentiment = Self.best(classifier.labels, classifier.probabilities(spoken))
        } else {
            let labels = pipeline.sentiment.keys.sorted()
            let described = try await embedder.embedCached(labels.map { pipeline.sentiment[$0]! }, with: served)
            let scores = described.map { cosineSimilarity($0, spoken) }
            sentiment = Self.best(labels, softmax(scores.map { $0 / Float(pipeline.confidenceTemperature) }))
        }
        let topics: [Analysis.Scored]
        var confidence = sentiment.score
        if let classifier = fitted.topic {
            let probabilities = classifier.probabilities(embedded.vector)
            let ranked = zip(classifier.labels, probabilities).sorted { $0.1 > $1.1 }
            // The first always (the classifier knows only these labels); others as likely as the threshold.
            topics = ranked.enumerated().filter { $0.offset == 0 || Double($0.element.1) >= pipeline.topicThreshold }
                .prefix(pipeline.maxTopics).map { .init(label: $0.element.0, score: Self.rounded($0.element.1)) }
            // Both fields right, taking them as independent.
            if let main = ranked.first { confidence = Self.rounded(Float(sentiment.score) * main.1) }
        } else {
            let labels = pipeline.topics.keys.sorted()
            let described = try await embedder.embedCached(labels.map { pipeline.topics[$0]! }, with: served)
            topics = zip(labels, described.map { cosineSimilarity($0, embedded.vector) })
                .filter { $0.1 >= Float(pipeline.topicThreshold) }.sorted { $0.1 > $1.1 }.prefix(pipeline.maxTopics)
                .map { Analysis.Scored(label: $0.0, score: Self.rounded($0.1)) }
        }
        return Analysis(
            sentiment: sentiment, topics: topics, keyPhrases: [], summary: "", confidence: confidence, analyzer: "local",
            usage: .init(promptTokens: embedded.tokens, completionTokens: 0), costUSD: nil,
            uncertain: confidence < pipeline.minConfidence ? true : nil)
    }

    private static func best(_ labels: [String], _ probabilities: [Float]) -> Analysis.Scored {
        let best = probabilities.indices.max { probabilities[$0] < probabilities[$1] }!
        return .init(label: labels[best], score: rounded(probabilities[best]))
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
