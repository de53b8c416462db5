import Foundation
import SQLKit

/// One inference request, as billing and capacity planning see it.
public struct UsageEvent: Sendable, Equatable {
    public var teamID: String?
    public var keyID: String?
    public var model: String
    public var route: String
    public var tokens: Int64
    public var latencyMilliseconds: Int64
    public var status: Int
    /// What the request cost in US dollars, where it was priced when it was served (a chat call, at its
    /// deployment's prices); nil: the report prices it by model (`usage.prices`).
    public var costUSD: Double?
    public var createdAt: Int64

    public init(
        teamID: String?, keyID: String?, model: String, route: String, tokens: Int64, latencyMilliseconds: Int64, status: Int,
        costUSD: Double? = nil, createdAt: Int64 = StoreTime.now()
    ) {
        self.teamID = teamID
        self.keyID = keyID
        self.model = model
        self.route = route
        self.tokens = tokens
        self.latencyMilliseconds = latencyMilliseconds
        self.status = status
        self.costUSD = costUSD
        self.createdAt = createdAt
    }
}

/// Usage of one day, model and key.
public struct UsageSummary: Sendable, Equatable, Decodable {
    /// Days since 1970-01-01 (UTC).
    public var day: Int64
    public var model: String
    public var keyID: String?
    public var requests: Int64
    public var errors: Int64
    public var tokens: Int64
    public var averageLatencyMilliseconds: Double
    /// The sum of the events' own costs, nil when none was priced when served.
    public var spentUSD: Double?
}

public struct UsageRepository: Repository {
    let database: Database
    /// Stores `events`, a few hundred per transaction, so that a large backlog does not hold the
    /// database (SQLite's single writer above all) for long at a time.
    public func record(_ events: [UsageEvent]) async throws {
        for start in stride(from: 0, to: events.count, by: 500) {
            try await record(chunk: events[start..<min(events.count, start + 500)])
        }
    }

    private func record(chunk events: ArraySlice<UsageEvent>) async throws {
        try await transaction { sql in try await Self.insert(events, on: sql) }
    }

    /// Stores `events` on `sql`, inside the caller's transaction (a job's completion).
    public static func insert(_ events: some Collection<UsageEvent> & Sendable, on sql: any SQLDatabase) async throws {
        for event in events {
            try await sql.raw(
                """
                INSERT INTO usage_events (id, team_id, key_id, model, route, tokens, latency_ms, status, cost_usd, created_at)
                VALUES (\(bind: randomIdentifier()), \(bind: event.teamID), \(bind: event.keyID), \(bind: event.model),
                        \(bind: event.route), \(bind: event.tokens), \(bind: event.latencyMilliseconds), \(bind: event.status),
                        \(bind: event.costUSD), \(bind: event.createdAt))
                """
            ).run()
        }
    }

    /// Usage of `teamID` (every team's when nil) from `start` until `end` (milliseconds since 1970), by day, model and key.
    public func summary(teamID: String?, from start: Int64, to end: Int64) async throws -> [UsageSummary] {
        try await read { sql in
            var teamFilter: SQLQueryString = ""
            if let teamID { teamFilter = "AND team_id = \(bind: teamID)" }
            let rows = try await sql.raw(
                """
                SELECT created_at / \(unsafeRaw: String(StoreTime.day)) AS day, model, key_id, COUNT(*) AS requests,
                       CAST(SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END) AS BIGINT) AS errors,
                       CAST(SUM(CASE WHEN status < 400 THEN tokens ELSE 0 END) AS BIGINT) AS tokens,
                       CAST(AVG(latency_ms) AS DOUBLE PRECISION) AS average_latency_milliseconds,
                       CAST(SUM(cost_usd) AS DOUBLE PRECISION) AS spent_usd
                FROM usage_events
                WHERE created_at >= \(bind: start) AND created_at < \(bind: end) \(teamFilter)
                GROUP BY created_at / \(unsafeRaw: String(StoreTime.day)), model, key_id
                ORDER BY day, model, key_id
                """
            ).all()
            return try rows.map { try $0.decode(UsageSummary.self) }
        }
    }
}

extension Database {
    /// Usage events, as billing and capacity planning read them.
    public var usage: UsageRepository { UsageRepository(database: self) }
}
