import ConduitCore
import CoreMetrics

/// What the insights pipelines do, for dashboards: conversations the prefilter skipped, cache hits,
/// analyzer calls with their latency, tokens and estimated cost. Labels are pipeline, label and
/// analyzer names from the configuration, never anything a client sent.
package struct InsightMetrics: Sendable {
    package let factory: any MetricsFactory

    package init(factory: any MetricsFactory) {
        self.factory = factory
    }

    package func skipped(pipeline: String, reason: String) {
        Counter(
            label: "conduit_insights_prefilter_skips_total", dimensions: [("pipeline", pipeline), ("reason", reason)], factory: factory
        )
        .increment()
    }

    package func cacheHit(pipeline: String, kind: String) {
        Counter(label: "conduit_insights_cache_hits_total", dimensions: [("pipeline", pipeline), ("kind", kind)], factory: factory)
            .increment()
    }

    package func analyzed(analyzer: String, outcome: String, since start: ContinuousClock.Instant) {
        Counter(
            label: "conduit_insights_analyzer_calls_total", dimensions: [("analyzer", analyzer), ("outcome", outcome)], factory: factory
        )
        .increment()
        Timer(label: "conduit_insights_analyzer_duration_seconds", dimensions: [("analyzer", analyzer)], factory: factory)
            .recordInterval(since: start)
    }

    package func used(analyzer: String, usage: Analysis.Usage, costUSD: Double?) {
        let dimensions = [("analyzer", analyzer)]
        Counter(label: "conduit_insights_analyzer_tokens_total", dimensions: dimensions + [("type", "prompt")], factory: factory)
            .increment(by: usage.promptTokens)
        Counter(label: "conduit_insights_analyzer_tokens_total", dimensions: dimensions + [("type", "completion")], factory: factory)
            .increment(by: usage.completionTokens)
        if let costUSD {
            FloatingPointCounter(label: "conduit_insights_analyzer_cost_usd_total", dimensions: dimensions, factory: factory)
                .increment(by: costUSD)
        }
    }

    /// An analysis whose confidence was below the pipeline's `min_confidence`, stored as uncertain.
    package func uncertain(pipeline: String) {
        Counter(label: "conduit_insights_uncertain_total", dimensions: [("pipeline", pipeline)], factory: factory).increment()
    }

    /// An analysis an LLM made because the local analyzer was uncertain.
    package func fellBack(pipeline: String, from analyzer: String) {
        Counter(label: "conduit_insights_fallbacks_total", dimensions: [("pipeline", pipeline), ("from", analyzer)], factory: factory)
            .increment()
    }

    package func stored(pipeline: String, source: String) {
        Counter(label: "conduit_insights_stored_total", dimensions: [("pipeline", pipeline), ("source", source)], factory: factory)
            .increment()
    }
}
