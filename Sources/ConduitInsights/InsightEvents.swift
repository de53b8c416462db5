import Store

/// The events of conversations' analysis.
package enum InsightEvents {
    package static let all: [any EventPayload.Type] = [InsightCreated.self, ConversationSkipped.self, ConversationFailed.self]

    package struct InsightCreated: EventPayload {
        package static let type = "insight.created"
        package static let summary = "A conversation was analysed and its insight stored."
        package static let scope = Scope.insights
        package static let example = InsightCreated(
            insightID: "5f0c…", conversationID: "9b1e…", pipeline: "support", source: "analyzer", labels: ["billing", "refund"])

        package var insightID: String
        package var conversationID: String
        package var pipeline: String
        /// `analyzer`, or the cache that answered (`exact_cache`, `semantic_cache`).
        package var source: String
        package var labels: [String]

        package var resource: String? { "conversation:\(conversationID)" }
    }

    package struct ConversationSkipped: EventPayload {
        package static let type = "conversation.skipped"
        package static let summary = "A conversation was not analysed: its pipeline's filters turned it away (too short, spam, language…)."
        package static let scope = Scope.insights
        package static let example = ConversationSkipped(
            conversationID: "9b1e…", pipeline: "support", reason: "too_short", detail: "12 characters, fewer than min_characters 40")

        package var conversationID: String
        package var pipeline: String
        package var reason: String
        package var detail: String

        package var resource: String? { "conversation:\(conversationID)" }
    }

    package struct ConversationFailed: EventPayload {
        package static let type = "conversation.failed"
        package static let summary = "A conversation's analysis failed for good, its attempts spent."
        package static let scope = Scope.insights
        package static let example = ConversationFailed(conversationID: "9b1e…", pipeline: "support", reason: "analyzer timed out")

        package var conversationID: String
        package var pipeline: String
        package var reason: String

        package var resource: String? { "conversation:\(conversationID)" }
    }
}
