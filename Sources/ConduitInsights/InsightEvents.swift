/// The topics of the events the insights pipeline records, which webhooks subscribe to.
package enum InsightEvents {
    package static let insightCreated = "insight.created"
    package static let conversationSkipped = "conversation.skipped"
    package static let conversationFailed = "conversation.failed"

    package static let all = [insightCreated, conversationSkipped, conversationFailed]
}
