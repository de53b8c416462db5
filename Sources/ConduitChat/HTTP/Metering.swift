import ConduitCore

/// What a call is billed and counted: the tokens it used of the model asked for, and their cost at the
/// prices of the deployment that served it, against the reservations made before it.
struct Metering: Sendable {
    var meter: UsageMeter
    var metrics: ChatMetrics
    var rateLimiter: RateLimiter?
    var reservation: CallReservation
    var alertPercents: [Int]
    var identity: Identity?
    var model: String
    var route: String
    var started: ContinuousClock.Instant

    func record(_ usage: TokenUsage?, status: Int, at deployment: GatewayDeployment? = nil) async {
        if let usage, let deployment { metrics.used(usage, at: deployment) }
        let cost = usage.flatMap { usage in deployment?.cost(promptTokens: usage.promptTokens, completionTokens: usage.completionTokens) }
        if let rateLimiter {
            if let admission = reservation.admission { await rateLimiter.settle(admission, used: usage?.total ?? 0) }
            if let spend = reservation.spend {
                await rateLimiter.settleSpend(
                    spend, usedMicroUSD: Int64(((cost ?? 0) * 1_000_000).rounded(.up)), identity: identity, thresholds: alertPercents)
            }
        }
        meter.record(
            teamID: identity?.teamID, keyID: identity?.keyID, model: model, route: route,
            tokens: usage?.total ?? 0, status: status, costUSD: cost ?? 0, since: started)
    }
}
