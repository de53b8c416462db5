import Foundation
import SQLKit

/// One limit that applies to a request: whose counter (a key's, a team's), over which window, and its caps.
public struct RateWindow: Sendable, Equatable {
    public enum Period: String, Sendable {
        case minute, month
    }

    public let subject: String
    public let period: Period
    public let requestLimit: Int64?
    public let tokenLimit: Int64?

    public init(subject: String, period: Period, requestLimit: Int64?, tokenLimit: Int64?) {
        self.subject = subject
        self.period = period
        self.requestLimit = requestLimit
        self.tokenLimit = tokenLimit
    }

    /// The windows `limits` sets for `subject` (none when it sets nothing).
    public static func windows(for subject: String, _ limits: Limits) -> [RateWindow] {
        var windows: [RateWindow] = []
        if limits.requestsPerMinute != nil || limits.tokensPerMinute != nil {
            windows.append(
                RateWindow(subject: subject, period: .minute, requestLimit: limits.requestsPerMinute, tokenLimit: limits.tokensPerMinute))
        }
        if let monthly = limits.monthlyTokens {
            windows.append(RateWindow(subject: subject, period: .month, requestLimit: nil, tokenLimit: monthly))
        }
        return windows
    }

    /// The budget window `limits` sets for `subject`: US dollars this calendar month, counted in
    /// millionths of a dollar in the window's token count (none when it sets no budget).
    public static func budgetWindows(for subject: String, _ limits: Limits) -> [RateWindow] {
        guard let budget = limits.monthlyBudgetUSD else { return [] }
        return [RateWindow(subject: subject + ":usd", period: .month, requestLimit: nil, tokenLimit: Int64(budget * 1_000_000))]
    }

    /// The start of the window that holds `now`, and the start of the next one (UTC).
    public func bounds(at now: Int64) -> (start: Int64, end: Int64) {
        switch period {
        case .minute:
            let start = now - now % StoreTime.minute
            return (start, start + StoreTime.minute)
        case .month:
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "UTC")!
            let date = Date(timeIntervalSince1970: TimeInterval(now) / TimeInterval(StoreTime.second))
            let start = calendar.date(from: calendar.dateComponents([.year, .month], from: date))!
            let end = calendar.date(byAdding: .month, value: 1, to: start)!
            return (Int64(start.timeIntervalSince1970) * StoreTime.second, Int64(end.timeIntervalSince1970) * StoreTime.second)
        }
    }
}

/// A window's counts after a request was admitted or refused.
public struct RateStatus: Sendable, Equatable {
    public let window: RateWindow
    public let requests: Int64
    public let tokens: Int64
    /// When the window ends and its counts start again from zero.
    public let resetsAt: Int64

    public var remainingRequests: Int64? { window.requestLimit.map { max(0, $0 - requests) } }
    public var remainingTokens: Int64? { window.tokenLimit.map { max(0, $0 - tokens) } }
}

public enum RateDecision: Sendable, Equatable {
    case admitted([RateStatus])
    /// The window that refused; the counts it would have reached.
    case refused(RateStatus)
}

public struct RateCountersRepository: Repository {
    let database: Database
    /// Counts `requests` requests (one, or none for more of a job's work) of `tokens` tokens in every window,
    /// all or nothing: when any window would go past a limit, the request is refused and counted nowhere.
    /// Each count is one atomic upsert on its row, inside one transaction, so concurrent requests, from one
    /// process or several sharing PostgreSQL, can never overspend between them.
    public func admit(requests: Int64 = 1, tokens: Int64, in windows: [RateWindow], now: Int64 = StoreTime.now()) async throws
        -> RateDecision
    {
        guard !windows.isEmpty else { return .admitted([]) }
        do {
            let statuses = try await transaction { sql in
                var statuses: [RateStatus] = []
                for window in windows {
                    let status = try await Self.count(requests: requests, tokens: tokens, in: window, now: now, sql: sql)
                    let overRequests = window.requestLimit.map { status.requests > $0 } ?? false
                    let overTokens = window.tokenLimit.map { status.tokens > $0 } ?? false
                    if overRequests || overTokens { throw Refusal(status: status) }
                    statuses.append(status)
                }
                return statuses
            }
            return .admitted(statuses)
        } catch let refusal as Refusal {
            return .refused(refusal.status)
        }
    }

    /// The tokens (or, in a budget window, millionths of a dollar) counted in `window`'s period that holds `now`.
    public func counted(in window: RateWindow, now: Int64 = StoreTime.now()) async throws -> Int64 {
        try await read { sql in
            try await sql.raw(
                """
                SELECT tokens FROM rate_counters
                WHERE subject = \(bind: window.subject + ":" + window.period.rawValue) AND window_start = \(bind: window.bounds(at: now).start)
                """
            ).first()?.decode(column: "tokens", as: Int64.self) ?? 0
        }
    }

    /// Takes back `requests` requests and `tokens` tokens admitted at `admittedAt`: a request never served
    /// (the server was overloaded, or the client left), which the caller's budget should not pay for, or
    /// the unused part of a reservation (requests 0; negative tokens add what a call used past it).
    public func refund(requests: Int64 = 1, tokens: Int64, in windows: [RateWindow], admittedAt: Int64) async throws {
        guard !windows.isEmpty else { return }
        try await transaction { sql in
            for window in windows {
                try await sql.raw(
                    """
                    UPDATE rate_counters
                    SET requests = CASE WHEN requests > \(bind: requests) THEN requests - \(bind: requests) ELSE 0 END,
                        tokens = CASE WHEN tokens > \(bind: tokens) THEN tokens - \(bind: tokens) ELSE 0 END
                    WHERE subject = \(bind: window.subject + ":" + window.period.rawValue)
                      AND window_start = \(bind: window.bounds(at: admittedAt).start)
                    """
                ).run()
            }
        }
    }

    /// Counts in the window that holds `now`. A minute window slides: the previous minute's counts weigh
    /// by how much of it the last 60 seconds still cover, so that a burst across a minute's boundary is not
    /// allowed twice the limit (20 wrong passwords in 6 s, 10 on each side). Months are calendar months.
    private static func count(
        requests: Int64, tokens: Int64, in window: RateWindow, now: Int64, sql: any SQLDatabase
    ) async throws -> RateStatus {
        let (start, end) = window.bounds(at: now)
        var previous: (requests: Int64, tokens: Int64) = (0, 0)
        if window.period == .minute {
            let row = try await sql.raw(
                """
                SELECT requests, tokens FROM rate_counters
                WHERE subject = \(bind: window.subject + ":" + window.period.rawValue) AND window_start = \(bind: start - StoreTime.minute)
                """
            ).first()
            if let row { previous = (try row.decode(column: "requests", as: Int64.self), try row.decode(column: "tokens", as: Int64.self)) }
        }
        let row = try await sql.raw(
            """
            INSERT INTO rate_counters (subject, window_start, requests, tokens)
            VALUES (\(bind: window.subject + ":" + window.period.rawValue), \(bind: start), \(bind: requests), \(bind: tokens))
            ON CONFLICT (subject, window_start) DO UPDATE
                SET requests = rate_counters.requests + excluded.requests, tokens = rate_counters.tokens + excluded.tokens
            RETURNING requests, tokens
            """
        ).first()
        guard let row else { throw StoreError.conflict("rate counter upsert returned no row") }
        let current = (
            requests: try row.decode(column: "requests", as: Int64.self), tokens: try row.decode(column: "tokens", as: Int64.self)
        )
        // What the previous minute still weighs: the share of it the last 60 seconds cover, rounded down.
        let covered = StoreTime.minute - (now - start)
        let counted = (
            requests: current.requests + previous.requests * covered / StoreTime.minute,
            tokens: current.tokens + previous.tokens * covered / StoreTime.minute
        )
        var resetsAt = end
        if window.period == .minute {
            // Refused: when this request fits (it is not stored); admitted: when the next one like it does.
            let refused =
                window.requestLimit.map { counted.requests > $0 } == true || window.tokenLimit.map { counted.tokens > $0 } == true
            let stored = refused ? (current.requests - requests, current.tokens - tokens) : current
            let byRequests = window.requestLimit.map {
                roomAgain(previous: previous.requests, before: stored.0, needed: requests, limit: $0, end: end)
            }
            let byTokens = window.tokenLimit.map {
                roomAgain(previous: previous.tokens, before: stored.1, needed: tokens, limit: $0, end: end)
            }
            resetsAt = max(byRequests ?? now, byTokens ?? now, now)
        }
        return RateStatus(window: window, requests: counted.requests, tokens: counted.tokens, resetsAt: resetsAt)
    }

    /// When a request of `needed` fits a sliding minute whose calendar minute ends at `end`, left alone: the
    /// previous minute's `previous` fades out over this one, and this one's `before` (what it holds without
    /// that request) over the next. As the admission counts it: the faded share rounded down.
    private static func roomAgain(previous: Int64, before: Int64, needed: Int64, limit: Int64, end: Int64) -> Int64 {
        // floor(fading × left / minute) ≤ k  ⟺  fading × left < (k + 1) × minute
        if before + needed <= limit {
            guard previous > 0 else { return 0 }
            return end - (limit - before - needed + 1) * StoreTime.minute / previous + 1
        }
        guard before > 0, needed <= limit else { return end + StoreTime.minute }
        return end + StoreTime.minute - (limit - needed + 1) * StoreTime.minute / before + 1
    }

    /// Deletes the counters of windows that are over: a minute's two minutes later, a month's after 40 days.
    public func prune(now: Int64 = StoreTime.now()) async throws {
        try await read { sql in
            try await sql.raw(
                """
                DELETE FROM rate_counters
                WHERE (subject LIKE '%:minute' AND window_start < \(bind: now - 2 * StoreTime.minute)) OR window_start < \(bind: now - 40 * StoreTime.day)
                """
            ).run()
        }
    }
}

/// Thrown inside the admission transaction to roll it back.
private struct Refusal: Error {
    let status: RateStatus
}

extension Database {
    /// The counters behind rate limits and quotas.
    public var rateCounters: RateCountersRepository { RateCountersRepository(database: self) }
}
