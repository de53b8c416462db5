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

    enum CodingKeys: String, CodingKey {
        case requestsPerMinute = "requests_per_minute"
        case tokensPerMinute = "tokens_per_minute"
        case monthlyTokens = "monthly_tokens"
    }

    public static let none = Limits()
    public var isEmpty: Bool { self == .none }

    /// The limits in `row`, whose columns carry `prefix` (a joined team's are `team_…`).
    init(row: any SQLRow, prefix: String = "") throws {
        requestsPerMinute = try row.decode(column: prefix + "requests_per_minute", as: Int64?.self)
        tokensPerMinute = try row.decode(column: prefix + "tokens_per_minute", as: Int64?.self)
        monthlyTokens = try row.decode(column: prefix + "monthly_tokens", as: Int64?.self)
    }

    /// The owning team's limits as `team_…` columns, for a query that joins `teams` as `t`.
    static let teamColumns: SQLQueryString = """
        t.requests_per_minute AS team_requests_per_minute, t.tokens_per_minute AS team_tokens_per_minute,
        t.monthly_tokens AS team_monthly_tokens
        """
}

extension Database {
    public func setLimits(_ limits: Limits, forKey id: String) async throws {
        guard try await apiKey(id: id, teamID: nil) != nil else { throw StoreError.notFound("API key \(id)") }
        try await setLimits(limits, table: "api_keys", id: id)
    }

    public func setLimits(_ limits: Limits, forTeam id: String) async throws {
        guard try await team(id) != nil else { throw StoreError.notFound("team \(id)") }
        try await setLimits(limits, table: "teams", id: id)
    }

    private func setLimits(_ limits: Limits, table: String, id: String) async throws {
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
