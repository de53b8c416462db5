/// What an analyzer concludes about a conversation, and what the API shows of an insight.
struct Analysis: Codable, Sendable, Equatable {
    struct Scored: Codable, Sendable, Equatable {
        var label: String
        var score: Double
    }

    struct Usage: Codable, Sendable, Equatable {
        var promptTokens: Int
        var completionTokens: Int

        enum CodingKeys: String, CodingKey {
            case promptTokens = "prompt_tokens"
            case completionTokens = "completion_tokens"
        }

        var total: Int { promptTokens + completionTokens }

        func cost(perMillionTokens price: Double) -> Double { Double(total) * price / 1_000_000 }
    }

    var sentiment: Scored
    var topics: [Scored]
    var keyPhrases: [String]
    var summary: String
    /// How sure the analyzer is, from 0 to 1: for the local analyzer, the sentiment's probability.
    var confidence: Double
    /// `local` or `llm:MODEL`.
    var analyzer: String
    /// Tokens the analysis used (the embedding model's, or the chat model's prompt and completion).
    var usage: Usage
    /// Estimated from `usage.prices`, when the model has a price.
    var costUSD: Double?
    /// For an analysis a cache reused: the insight it was copied from.
    var cachedFrom: String?
    /// For the semantic cache's: how similar this conversation is to that one's (cosine).
    var similarity: Double?

    enum CodingKeys: String, CodingKey {
        case sentiment, topics, summary, confidence, analyzer, usage
        case keyPhrases = "key_phrases"
        case costUSD = "cost_usd"
        case cachedFrom = "cached_from"
        case similarity
    }

    /// What `GET /v1/insights?label=` finds it by.
    var labels: [String] { [sentiment.label] + topics.map(\.label) }
}
