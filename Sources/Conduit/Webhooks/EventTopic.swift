/// The topics of the events Conduit records, which webhooks subscribe to.
enum EventTopic {
    static let insightCreated = "insight.created"
    static let conversationSkipped = "conversation.skipped"
    static let conversationFailed = "conversation.failed"

    static let all = [insightCreated, conversationSkipped, conversationFailed]
}
