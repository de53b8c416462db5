import Foundation

/// A model the gateway serves under its own name, for chat completions or embeddings: where its calls go
/// (one or more deployments), how one is picked, and which models take over when none of them can answer.
public struct GatewayModel: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// `POST /v1/chat/completions`.
        case chat
        /// `POST /v1/embeddings`.
        case embedding

        /// "a chat model", "an embedding model".
        var described: String {
            switch self {
            case .chat: "a chat model"
            case .embedding: "an embedding model"
            }
        }

        /// The providers that serve models of this kind.
        var providers: [GatewayDeployment.Provider] {
            switch self {
            case .chat: [.openai, .anthropic]
            case .embedding: [.openai, .local]
            }
        }
    }

    /// How a call picks among the model's deployments whose circuit is not open and that have room.
    public enum Routing: String, Sendable, CaseIterable {
        /// At random, in proportion to the deployments' weights.
        case weighted
        /// The one with the fewest calls in flight from this node (ties by weight).
        case leastOutstanding = "least_outstanding"
        /// The one with the lowest moving average of latency; one not yet measured first.
        case lowestLatency = "lowest_latency"
    }

    /// The name clients send as `model`.
    public var name: String
    /// Other names for it.
    public var aliases: [String]
    public var kind: Kind
    public var routing: Routing
    /// Models to try, in order, when every deployment of this one failed, is open or cannot take the prompt.
    public var fallbacks: [String]
    public var deployments: [GatewayDeployment]
    /// Opt-in: a single-turn request whose user message is at least this similar (cosine, by the node's
    /// local embedding model) to one answered in the same context gets that answer. Nil: none.
    public var semanticCacheThreshold: Double?

    public init(
        name: String, kind: Kind = .chat, aliases: [String] = [], routing: Routing = .weighted, fallbacks: [String] = [],
        deployments: [GatewayDeployment], semanticCacheThreshold: Double? = nil
    ) {
        self.semanticCacheThreshold = semanticCacheThreshold
        self.name = name
        self.kind = kind
        self.aliases = aliases
        self.routing = routing
        self.fallbacks = fallbacks
        self.deployments = deployments
    }
}

/// One place a model's calls can go: a provider's endpoint and the model it knows there.
public struct GatewayDeployment: Sendable, Equatable {
    public enum Provider: String, Sendable, CaseIterable {
        /// Any OpenAI-compatible API that takes its key as a bearer token: OpenAI, xAI, Groq, vLLM, Ollama,
        /// llama.cpp's server.
        case openai
        /// Anthropic's Messages API (`{base_url}/messages`, `x-api-key`), translated both ways.
        case anthropic
        /// An embedding model this node serves itself (`model` names it), called in process: an embedding
        /// model of the gateway may put it beside remote deployments, or fall back from it to them.
        case local
    }

    /// Names the deployment in headers, metrics and errors: the file's `name`, or MODEL/N.
    public var id: String
    public var provider: Provider
    /// The API's base, `https://api.openai.com/v1`: calls go to `{base_url}/chat/completions`.
    public var baseURL: URL
    /// Sent as `Authorization: Bearer`; read from an environment variable or a file, never shown or logged.
    public var apiKey: String?
    /// The model's name at the provider.
    public var model: String
    /// Its share of the calls under weighted routing.
    public var weight: Int
    /// Most calls in flight from this node; a full deployment is skipped.
    public var maxConcurrent: Int?
    /// Longest one attempt may wait for the answer (streaming: for the first byte, then between chunks).
    public var timeout: Duration
    /// US dollars per million prompt and completion tokens.
    public var inputPricePerMillion: Double
    public var outputPricePerMillion: Double
    /// Most tokens of prompt and completion together; a longer request goes to the next deployment or model.
    public var contextWindow: Int?

    public init(
        id: String, provider: Provider = .openai, baseURL: URL, apiKey: String? = nil, model: String, weight: Int = 1,
        maxConcurrent: Int? = nil, timeout: Duration = .seconds(120), inputPricePerMillion: Double = 0,
        outputPricePerMillion: Double = 0, contextWindow: Int? = nil
    ) {
        self.id = id
        self.provider = provider
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.model = model
        self.weight = weight
        self.maxConcurrent = maxConcurrent
        self.timeout = timeout
        self.inputPricePerMillion = inputPricePerMillion
        self.outputPricePerMillion = outputPricePerMillion
        self.contextWindow = contextWindow
    }

    /// The `baseURL` of a `local` deployment, which is called in process.
    public static let inProcess = URL(string: "conduit-local:/")!

    /// The cost in US dollars of a call's tokens.
    public func cost(promptTokens: Int, completionTokens: Int) -> Double {
        (Double(promptTokens) * inputPricePerMillion + Double(completionTokens) * outputPricePerMillion) / 1_000_000
    }
}
