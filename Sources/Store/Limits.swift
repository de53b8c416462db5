import Foundation
import SQLKit

/// What a key or a team may use: requests and tokens per minute, and tokens per calendar month
/// (UTC). Nil means no limit.
public struct Limits: Sendable, Equatable, Codable {
    public var requestsPerMinute: Int64?
    public var tokensPerMinute: Int64?
    public var monthlyTokens: Int64?

    public init(requestsPerMinute: Int64? = nil, tokensPerMinute: Int64? = nil, monthlyTokens: Int64? = nil) {
        self.requestsPerMinute = requestsPerMinute
        self.tokensPerMinute = tokensPerMinute
        self.monthlyTokens = monthlyTokens
    }

    public static let none = Limits()
    public var isEmpty: Bool { self == .none }

    /// The owning team's limits as `team_…` columns, for a query that joins `teams` as `t`.
    static let teamColumns: SQLQueryString = """
        t.requests_per_minute AS team_requests_per_minute, t.tokens_per_minute AS team_tokens_per_minute,
        t.monthly_tokens AS team_monthly_tokens
        """
}

extension Database {
    /// Sets the limits of the row `id` of `table` (a key's or a team's).
    func setLimits(_ limits: Limits, table: String, id: String) async throws {
        try await read { sql in
            try await sql.raw(
                """
                UPDATE \(unsafeRaw: table) SET requests_per_minute = \(bind: limits.requestsPerMinute),
                    tokens_per_minute = \(bind: limits.tokensPerMinute), monthly_tokens = \(bind: limits.monthlyTokens)
                WHERE id = \(bind: id)
                """
            ).run()
        }
    }
}
