import ConduitCore

/// What the router compares each request with: the vectors of the utterances of a domain's agents, and
/// their words (`LexicalIndex`). An agent's score is a weighted sum of the two likenesses.
struct RouteTable: Sendable {
    struct Entry: Sendable {
        let agent: String
        let threshold: Double
        /// Unit vectors, one per utterance.
        let vectors: [[Float]]
    }

    let entries: [Entry]
    let words: LexicalIndex
    /// The share of the score the words carry; the embeddings carry the rest.
    let lexicalWeight: Double

    /// How many of an agent's closest utterances its score averages: one stray utterance close to a
    /// request does not carry it alone.
    static let nearest = 3

    /// Each agent's score for a request, best first: the mean of its `nearest` highest cosines with the
    /// request's unit vector, and the cosine of their words.
    func scores(_ vector: [Float], text: String) -> [(agent: String, score: Double, threshold: Double)] {
        let lexical = lexicalWeight > 0 ? words.scores(text) : []
        // Every entry has utterances: an agent's file and a domain's override each need at least one.
        return entries.enumerated().map { index, entry in
            var best = [Float](repeating: -1, count: max(1, min(Self.nearest, entry.vectors.count)))
            for utterance in entry.vectors {
                let similarity = Self.dot(vector, utterance)
                if similarity > best[best.count - 1] {
                    best[best.count - 1] = similarity
                    best.sort(by: >)
                }
            }
            let semantic = Double(best.reduce(0, +) / Float(best.count))
            let score = lexical.isEmpty ? semantic : (1 - lexicalWeight) * semantic + lexicalWeight * Double(lexical[index])
            return (entry.agent, score, entry.threshold)
        }.sorted { $0.score > $1.score || ($0.score == $1.score && $0.agent < $1.agent) }
    }

    private static func dot(_ a: [Float], _ b: [Float]) -> Float {
        var sum: Float = 0
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                for index in 0..<min(a.count, b.count) { sum += a[index] * b[index] }
            }
        }
        return sum
    }
}
