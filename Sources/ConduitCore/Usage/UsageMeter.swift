import Store

/// Where every feature counts the tokens it spends: the usage report (a `UsageEvent`, written in
/// batches) and the usage metrics, with their cost at `usage.prices`. The only place a `UsageEvent`
/// is made, so that the API, batch jobs and pipelines are billed alike.
package struct UsageMeter: Sendable {
    /// Nil where there is no store (tests without one, with authentication off).
    let recorder: UsageRecorder?
    let metrics: UsageMetrics
    let prices: Live<[String: Double]>

    package init(recorder: UsageRecorder?, metrics: UsageMetrics, prices: Live<[String: Double]>) {
        self.recorder = recorder
        self.metrics = metrics
        self.prices = prices
    }

    /// US dollars per million tokens of `model`, when priced.
    package func price(of model: String) -> Double? { prices.read { $0[model] } }

    /// Records `tokens` of `model` spent for `teamID` (and `keyID`, for an API call) on `route`, answered
    /// with `status` after what it took since `started`, at `costUSD` when it was priced as it was served.
    /// Only what was served (a 2xx) counts in the metrics.
    package func record(
        teamID: String?, keyID: String? = nil, model: String, route: String, tokens: Int, status: Int = 200, costUSD: Double? = nil,
        since started: ContinuousClock.Instant
    ) {
        recorder?.record(
            event(
                teamID: teamID, keyID: keyID, model: model, route: route, tokens: tokens, status: status, costUSD: costUSD, since: started))
        if (200..<300).contains(status) { computed(model: model, tokens: tokens) }
    }

    /// The usage event of such a call, for a job to bill with its completion (`JobOutcome.usage`). The model
    /// is stored as asked for, bounded: a refused request may name anything.
    package func event(
        teamID: String?, keyID: String? = nil, model: String, route: String, tokens: Int, status: Int = 200, costUSD: Double? = nil,
        since started: ContinuousClock.Instant
    ) -> UsageEvent {
        UsageEvent(
            teamID: teamID, keyID: keyID, model: model.bounded(), route: route, tokens: Int64(tokens),
            latencyMilliseconds: Int64((ContinuousClock.now - started) / .milliseconds(1)), status: status, costUSD: costUSD)
    }

    /// Counts `tokens` of `model` computed in the metrics alone: work a job does, billed when it completes.
    package func computed(model: String, tokens: Int) {
        metrics.served(model: model, tokens: tokens, pricePerMillionTokens: price(of: model))
    }
}
