import Foundation

/// The OpenAI-compatible provider that `llm:MODEL` analyzers call: `POST {base_url}/chat/completions`.
public struct UpstreamConfiguration: Sendable, Equatable {
    /// The API's base, `https://api.openai.com/v1`; no upstream when nil.
    public var baseURL: URL?
    /// Sent as `Authorization: Bearer`; never shown or logged.
    public var apiKey: String?
    /// Longest one call may take, response included.
    public var timeout: Duration = .seconds(60)
    /// Failed calls in a row that open the circuit: calls then fail at once for `circuitCooldown`.
    public var circuitFailures = 5
    public var circuitCooldown: Duration = .seconds(30)

    public init() {}

    package var chatCompletionsURL: URL? { baseURL?.appending(path: "chat/completions") }
}
