import ArgumentParser
import ConduitEmbeddings
import Store

/// The limits a key or a team can have; one left out means no limit of that kind.
struct LimitOptions: ParsableArguments {
    @Option(help: "Requests per minute.") var requestsPerMinute: Int64?
    @Option(help: "Tokens per minute.") var tokensPerMinute: Int64?
    @Option(help: "Tokens per calendar month (UTC).") var monthlyTokens: Int64?
    @Option(help: "US dollars per calendar month (UTC) that chat calls may cost, at their deployments' prices.")
    var monthlyBudgetUsd: Double?

    func validate() throws {
        for (name, value) in [
            ("requests-per-minute", requestsPerMinute), ("tokens-per-minute", tokensPerMinute), ("monthly-tokens", monthlyTokens),
        ] {
            if let value, value < 1 { throw ValidationError("--\(name) must be at least 1 (leave it out for no limit)") }
        }
        if let budget = monthlyBudgetUsd, !(budget > 0 && budget.isFinite) {
            throw ValidationError("--monthly-budget-usd must be above 0 (leave it out for no limit)")
        }
    }

    var limits: Limits {
        Limits(
            requestsPerMinute: requestsPerMinute, tokensPerMinute: tokensPerMinute, monthlyTokens: monthlyTokens,
            monthlyBudgetUSD: monthlyBudgetUsd)
    }
}

func describe(_ limits: Limits) -> String {
    guard !limits.isEmpty else { return "no limits" }
    return [
        limits.requestsPerMinute.map { "\($0) requests/min" }, limits.tokensPerMinute.map { "\($0) tokens/min" },
        limits.monthlyTokens.map { "\($0) tokens/month" }, limits.monthlyBudgetUSD.map { "\($0) USD/month" },
    ].compactMap { $0 }.joined(separator: ", ")
}
