import ConduitCore
import ConduitEmbeddings

/// What an analyzer concludes about a conversation, and what the API shows of an insight.
package struct Analysis: Codable, Sendable, Equatable {
    package struct Scored: Codable, Sendable, Equatable {
        package var label: String
        package var score: Double
    }

    package struct Usage: Codable, Sendable, Equatable {
        package var promptTokens: Int
        package var completionTokens: Int

        package enum CodingKeys: String, CodingKey {
            case promptTokens = "prompt_tokens"
            case completionTokens = "completion_tokens"
        }

        package var total: Int { promptTokens + completionTokens }

        package func cost(perMillionTokens price: Double) -> Double { Double(total) * price / 1_000_000 }
    }

    package var sentiment: Scored
    package var topics: [Scored]
    package var keyPhrases: [String]
    package var summary: String
    /// How sure the analyzer is, from 0 to 1. The local analyzer's is the calibrated probability that its
    /// sentiment and main topic are both right (the sentiment's alone when topics are zero-shot); an LLM's
    /// is its own say.
    package var confidence: Double
    /// `local` or `llm:MODEL`.
    package var analyzer: String
    /// Tokens the analysis used (the embedding model's, or the chat model's prompt and completion).
    package var usage: Usage
    /// Estimated from `usage.prices`, when the model has a price.
    package var costUSD: Double?
    /// For an analysis a cache reused: the insight it was copied from.
    package var cachedFrom: String?
    /// For the semantic cache's: how similar this conversation is to that one's (cosine).
    package var similarity: Double?
    /// True when the confidence is below the pipeline's `min_confidence` (and no LLM took over).
    package var uncertain: Bool?
    /// For an analysis an LLM made because the local analyzer was uncertain (`llm_fallback`): what that one said.
    package var fallbackFrom: Fallback?

    package struct Fallback: Codable, Sendable, Equatable {
        package var analyzer: String
        package var sentiment: String
        package var topics: [String]
        package var confidence: Double
    }

    package enum CodingKeys: String, CodingKey {
        case sentiment, topics, summary, confidence, analyzer, usage
        case keyPhrases = "key_phrases"
        case costUSD = "cost_usd"
        case cachedFrom = "cached_from"
        case similarity, uncertain
        case fallbackFrom = "fallback_from"
    }

    /// What `GET /v1/insights?label=` finds it by: its labels, and `uncertain` for those to review.
    package var labels: [String] { [sentiment.label] + topics.map(\.label) + (uncertain == true ? [Self.uncertainLabel] : []) }

    /// The label an uncertain insight is also found by; no pipeline's label may be it.
    package static let uncertainLabel = "uncertain"
}
