import CoreMetrics

/// Tokens served and their estimated cost at `usage.prices`, by model: the usage report's totals as
/// metrics, for dashboards and budget alerts. Only served models name a series, never what a client sent.
package struct UsageMetrics: Sendable {
    package let factory: any MetricsFactory

    package init(factory: any MetricsFactory) {
        self.factory = factory
    }

    package func served(model: String, tokens: Int, pricePerMillionTokens: Double?) {
        Counter(label: "conduit_usage_tokens_total", dimensions: [("model", model)], factory: factory).increment(by: tokens)
        guard let price = pricePerMillionTokens else { return }
        FloatingPointCounter(label: "conduit_usage_cost_usd_total", dimensions: [("model", model)], factory: factory)
            .increment(by: Double(tokens) * price / 1_000_000)
    }
}
