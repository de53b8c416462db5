import Store

/// The event a monthly budget's thresholds announce: each is recorded once per budget and month.
package enum BudgetEvents {
    package struct ThresholdCrossed: EventPayload {
        package static let type = "budget.threshold_crossed"
        package static let summary =
            "A key's or the team's monthly budget reached one of `chat.budget_alert_percents` (once per month each)."
        package static let scope = Scope.admin
        package static let example = ThresholdCrossed(
            scope: "key", keyID: "3c2a…", teamID: "0d9f…", percent: 80, budgetUSD: 50, spentUSD: 40.02)

        /// `key` or `team`: whose budget.
        package var scope: String
        package var keyID: String?
        package var teamID: String
        package var percent: Int
        package var budgetUSD: Double
        package var spentUSD: Double

        package var resource: String? { keyID.map { "key:\($0)" } }
    }
}
