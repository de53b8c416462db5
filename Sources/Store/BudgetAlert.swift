import SQLKit

/// The budget thresholds each period has crossed, so that the event announcing a crossing is recorded
/// once per budget, period and threshold, however many calls and nodes see it.
public struct BudgetAlertsRepository: Repository {
    let database: Database

    /// Records that `window`'s budget reached `percent` in the period that holds `now`, with `event` for
    /// the team's webhooks, in one transaction; false when that crossing was recorded already.
    public func record(percent: Int, of window: RateWindow, teamID: String, event: NewEvent, now: Int64 = StoreTime.now()) async throws
        -> Bool
    {
        try await transaction { sql in
            let inserted = try await sql.raw(
                """
                INSERT INTO budget_alerts (subject, window_start, percent, created_at)
                VALUES (\(bind: window.subject), \(bind: window.bounds(at: now).start), \(bind: percent), \(bind: now))
                ON CONFLICT (subject, window_start, percent) DO NOTHING RETURNING percent
                """
            ).first()
            guard inserted != nil else { return false }
            try await database.events.insert(event, teamID: teamID, now: now, in: sql)
            return true
        }
    }
}

extension Database {
    public var budgetAlerts: BudgetAlertsRepository { BudgetAlertsRepository(database: self) }
}
