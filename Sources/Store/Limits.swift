import Foundation
import SQLKit

/// What a key or a team may use: requests and tokens per minute, tokens per calendar month (UTC), and
/// US dollars per calendar month (what chat calls cost at their deployments' prices). Nil means no limit.
public struct Limits: Sendable, Equatable, Codable {
    public var requestsPerMinute: Int64?
    public var tokensPerMinute: Int64?
    public var monthlyTokens: Int64?
    public var monthlyBudgetUSD: Double?

    public init(
        requestsPerMinute: Int64? = nil, tokensPerMinute: Int64? = nil, monthlyTokens: Int64? = nil, monthlyBudgetUSD: Double? = nil
    ) {
        self.requestsPerMinute = requestsPerMinute
        self.tokensPerMinute = tokensPerMinute
        self.monthlyTokens = monthlyTokens
        self.monthlyBudgetUSD = monthlyBudgetUSD
    }

    public static let none = Limits()
    public var isEmpty: Bool { self == .none }

    /// The owning team's limits as `team_…` columns, for a query that joins `teams` as `t`.
    static let teamColumns: SQLQueryString = """
        t.requests_per_minute AS team_requests_per_minute, t.tokens_per_minute AS team_tokens_per_minute,
        t.monthly_tokens AS team_monthly_tokens, t.monthly_budget_usd AS team_monthly_budget_usd
        """
}

extension Database {
    /// Sets the limits of the row `id` of `table` (a key's or a team's).
    /// Sets the limits of the key or team `id` (of `table`), and records who did (`limits.changed`) for its team.
    func setLimits(_ limits: Limits, table: String, id: String, teamID: String, keyID: String?) async throws {
        let events = self.events
        try await transaction { sql in
            try await events.insert(NewEvent(LimitsChanged(keyID: keyID, limits: limits)), teamID: teamID, now: StoreTime.now(), in: sql)
            try await sql.raw(
                """
                UPDATE \(unsafeRaw: table) SET requests_per_minute = \(bind: limits.requestsPerMinute),
                    tokens_per_minute = \(bind: limits.tokensPerMinute), monthly_tokens = \(bind: limits.monthlyTokens),
                    monthly_budget_usd = \(bind: limits.monthlyBudgetUSD)
                WHERE id = \(bind: id)
                """
            ).run()
        }
    }
}
