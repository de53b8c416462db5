/// The event a monthly budget's thresholds announce: each is recorded once per budget and month, for
/// the team's webhooks.
package enum BudgetEvents {
    package static let thresholdCrossed = "budget.threshold_crossed"

    /// What `budget.threshold_crossed` says.
    package struct ThresholdCrossed: Encodable, Sendable {
        /// `key` or `team`: whose budget.
        package var scope: String
        package var keyID: String?
        package var teamID: String
        package var percent: Int
        package var budgetUSD: Double
        package var spentUSD: Double
    }
}
