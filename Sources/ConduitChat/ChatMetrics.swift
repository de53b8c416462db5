import ConduitCore
import CoreMetrics

/// What the gateway does, per deployment, for dashboards: attempts by outcome with their latency, the
/// time to a stream's first token, tokens and their cost, retries and fallbacks. Labels are model and
/// deployment names from the models file, never anything a client sent.
package struct ChatMetrics: Sendable {
    package let factory: any MetricsFactory

    package init(factory: any MetricsFactory) {
        self.factory = factory
    }

    /// One attempt at `deployment`, `outcome` being `success` or what failed, and how long it took to answer.
    func attempted(deployment: String, outcome: String, since start: ContinuousClock.Instant) {
        Counter(label: "conduit_chat_attempts_total", dimensions: [("deployment", deployment), ("outcome", outcome)], factory: factory)
            .increment()
        Timer(label: "conduit_chat_attempt_duration_seconds", dimensions: [("deployment", deployment)], factory: factory)
            .recordInterval(since: start)
    }

    func retried(model: String) {
        Counter(label: "conduit_chat_retries_total", dimensions: [("model", model)], factory: factory).increment()
    }

    func fellBack(from model: String, to fallback: String) {
        Counter(label: "conduit_chat_fallbacks_total", dimensions: [("model", model), ("fallback", fallback)], factory: factory).increment()
    }

    /// An answer given again from the `exact` or the `semantic` cache.
    func cacheHit(model: String, kind: String) {
        Counter(label: "conduit_chat_cache_hits_total", dimensions: [("model", model), ("kind", kind)], factory: factory).increment()
    }

    /// A stream's first event reached the client, `since` the call began.
    func firstToken(deployment: String, since start: ContinuousClock.Instant) {
        Timer(label: "conduit_chat_time_to_first_token_seconds", dimensions: [("deployment", deployment)], factory: factory)
            .recordInterval(since: start)
    }

    /// Tokens a call used at `deployment`, and their cost at its prices.
    func used(_ usage: TokenUsage, at deployment: GatewayDeployment) {
        let dimensions = [("deployment", deployment.id)]
        Counter(label: "conduit_chat_tokens_total", dimensions: dimensions + [("type", "prompt")], factory: factory)
            .increment(by: usage.promptTokens)
        Counter(label: "conduit_chat_tokens_total", dimensions: dimensions + [("type", "completion")], factory: factory)
            .increment(by: usage.completionTokens)
        FloatingPointCounter(label: "conduit_chat_cost_usd_total", dimensions: dimensions, factory: factory)
            .increment(by: deployment.cost(promptTokens: usage.promptTokens, completionTokens: usage.completionTokens))
    }
}

extension AttemptFailure {
    /// The outcome label of a failed attempt.
    var outcome: String {
        switch self {
        case .unreachable: "unreachable"
        case .timedOut: "timeout"
        case .status(429, _, _): "rate_limited"
        case .status(let status, _, _) where status >= 500: "server_error"
        case .status: "client_error"
        case .malformed: "malformed"
        case .tooLarge: "too_large"
        }
    }
}
