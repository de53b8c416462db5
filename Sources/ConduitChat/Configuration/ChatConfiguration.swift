import Foundation

/// The chat gateway: the models it serves (declared in `chat.models_file`) and how it calls them.
public struct ChatConfiguration: Sendable, Equatable {
    /// The models file; no chat models when nil.
    public var modelsFile: URL?
    /// What was read from it; loaded with the configuration, and again on reload.
    public var models = try! GatewayModelTable()
    /// Retries of one call at each model after its first attempt there, across that model's deployments;
    /// each fallback gets as many (the retry budget bounds them all together).
    public var maxRetries = 2
    /// Retries (and fallbacks) in flight may be at most this share of the calls in flight, as Envoy's
    /// retry budget: in an outage, retries cannot multiply the load on the providers.
    public var retryBudgetPercent = 20
    /// Retries always allowed in flight, whatever the share: a quiet node can still retry.
    public var minimumRetriesInFlight = 3
    /// The first retry waits about this long (with full jitter), each next twice as long, up to `maximumBackoff`.
    public var backoff: Duration = .milliseconds(250)
    public var maximumBackoff: Duration = .seconds(8)
    /// Longest a call may take, retries and fallbacks and a streamed answer included.
    public var totalTimeout: Duration = .seconds(600)
    /// Failed attempts in a row that open a deployment's circuit: it is skipped for `circuitCooldown`, then one
    /// trial call decides.
    public var circuitFailures = 5
    public var circuitCooldown: Duration = .seconds(30)
    /// Largest answer read from a provider that does not stream.
    public var maxResponseBytes = 16 << 20
    /// How long an answer to a deterministic request (temperature 0, or a seed) is kept and reused; 0 keeps none.
    public var cacheTTL: Duration = .zero
    /// Percentages of a key's or team's monthly budget whose crossing is announced (`budget.threshold_crossed`), once a month each.
    public var budgetAlertPercents = [50, 80, 100]

    public init() {}

    /// Reads the models file; errors name the file and key.
    public mutating func loadModels(environment: [String: String]) throws {
        models = try modelsFile.map { try GatewayModelTable.load(from: $0, environment: environment) } ?? GatewayModelTable()
    }
}
