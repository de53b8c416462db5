import Foundation

/// The words of each agent's utterances, description and responsibilities, weighted by how few agents use
/// them (TF-IDF): the part of a request's match that its exact words carry. Sentence embeddings of a small
/// model place requests by topic ("a spec for the booking system"), so "review this spec" and "write this
/// spec" land close; the words "review", "critique", "gaps" tell the agents apart where the topic does not.
struct LexicalIndex: Sendable {
    private let weights: [String: Float]
    /// Each agent's unit vector of word weights, in the order the index was built with.
    private let documents: [[String: Float]]

    init(documents texts: [[String]]) {
        let words = texts.map { $0.flatMap(Self.words) }
        var agentsUsing: [String: Int] = [:]
        for document in words { for word in Set(document) { agentsUsing[word, default: 0] += 1 } }
        let count = Float(texts.count)
        let weights = agentsUsing.mapValues { Float(log((count + 1) / (Float($0) + 0.5))) }
        self.weights = weights
        documents = words.map { Self.vector($0, weights: weights) }
    }

    /// The request's cosine with each agent's words, in the order of the documents.
    func scores(_ text: String) -> [Float] {
        let query = Self.vector(Self.words(text), weights: weights)
        return documents.map { document in query.reduce(0) { $0 + $1.value * (document[$1.key] ?? 0) } }
    }

    private static func vector(_ words: [String], weights: [String: Float]) -> [String: Float] {
        var counts: [String: Int] = [:]
        for word in words { counts[word, default: 0] += 1 }
        var vector: [String: Float] = [:]
        for (word, count) in counts { if let weight = weights[word] { vector[word] = (1 + Float(log(Double(count)))) * weight } }
        let norm = vector.values.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return norm > 0 ? vector.mapValues { $0 / norm } : [:]
    }

    /// Lowercase words of letters and digits, a plural's final "s" dropped, the commonest function words left out.
    static func words(_ text: String) -> [String] {
        text.lowercased().split { !$0.isLetter && !$0.isNumber }.compactMap { word in
            let stem = word.count > 3 && word.hasSuffix("s") ? word.dropLast() : word[...]
            return stopWords.contains(String(word)) ? nil : String(stem)
        }
    }

    private static let stopWords: Set<String> = [
        "a", "an", "the", "of", "to", "and", "or", "for", "in", "on", "is", "are", "be", "we", "our", "my", "i", "you", "your", "it",
        "this", "that", "with", "what", "how", "do", "does", "should", "can", "me", "us", "as", "at", "by", "from", "which", "when",
        "will", "would", "need", "pls", "please",
    ]
}
