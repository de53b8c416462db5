/// The topics of the events the insights pipeline records, which webhooks subscribe to.
package enum InsightEvents {
    package static let insightCreated = "insight.created"
    package static let conversationSkipped = "conversation.skipped"
    package static let conversationFailed = "conversation.failed"

    package static let all = [insightCreated, conversationSkipped, conversationFailed]

    /// What `insight.created` says.
    package struct InsightCreated: Encodable, Sendable {
        package var insightID: String
        package var conversationID: String
        package var pipeline: String
        package var source: String
        package var labels: [String]
    }

    /// What `conversation.skipped` and `conversation.failed` say: why, and for a skip the detail.
    package struct ConversationClosed: Encodable, Sendable {
        package var conversationID: String
        package var pipeline: String
        package var reason: String
        package var detail: String?
    }
}
