import ConduitCore
import Foundation
import Store

/// A conversation as `POST /v1/conversations` acknowledges it.
struct AcceptedConversation: Encodable, Sendable {
    var id: String
    var object = "conversation"
    var pipeline: String
    var status: String
    var jobID: String
    var createdAt: Int64

    init(_ conversation: Conversation) {
        id = conversation.id
        pipeline = conversation.pipeline
        status = conversation.status.rawValue
        jobID = conversation.jobID
        createdAt = StoreTime.seconds(conversation.createdAt)
    }
}

/// A batch as `POST /v1/conversations` acknowledges it.
struct AcceptedConversations: Encodable, Sendable {
    var object = "list"
    var data: [AcceptedConversation]
    var jobIDs: [String]

    enum CodingKeys: String, CodingKey {
        case object, data
        case jobIDs = "job_ids"
    }
}

/// A conversation with its status, its job's state and its insight (`GET /v1/conversations/{id}`).
struct ConversationView: Encodable, Sendable {
    var id: String
    var object = "conversation"
    var pipeline: String
    var status: String
    @Nullable var reason: String?
    var messages: JSONValue
    var metadata: JSONValue
    var jobID: String
    @Nullable var jobState: String?
    var createdAt: Int64
    var insights: [InsightView]

    init(_ conversation: Conversation, job: Job?, insight: Insight?) throws {
        id = conversation.id
        pipeline = conversation.pipeline
        status = conversation.status.rawValue
        reason = conversation.reason
        messages = try JSONDecoder().decode(JSONValue.self, from: Data(conversation.messages.utf8))
        metadata = try JSONDecoder().decode(JSONValue.self, from: Data(conversation.metadata.utf8))
        jobID = conversation.jobID
        jobState = job?.state.rawValue
        createdAt = StoreTime.seconds(conversation.createdAt)
        insights = try insight.map { [try InsightView($0)] } ?? []
    }
}

/// An insight as the API shows it: where it comes from, then the analysis's own fields; times in
/// seconds since 1970.
struct InsightView: Encodable, Sendable {
    struct Envelope: Encodable, Sendable {
        var id: String
        var object = "insight"
        var conversationID: String
        var jobID: String
        var pipeline: String
        var pipelineVersion: Int
        var source: String
        var createdAt: Int64
    }

    var envelope: Envelope
    var analysis: [String: JSONValue]

    init(_ insight: Insight) throws {
        envelope = Envelope(
            id: insight.id, conversationID: insight.conversationID, jobID: insight.jobID, pipeline: insight.pipeline,
            pipelineVersion: insight.pipelineVersion, source: insight.source, createdAt: StoreTime.seconds(insight.createdAt))
        analysis = try JSONDecoder().decode([String: JSONValue].self, from: Data(insight.analysis.utf8))
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// The analysis's fields and the envelope's in one object; the envelope's win a name both have.
    func encode(to encoder: any Encoder) throws {
        let reserved: Set<String> = [
            "id", "object", "conversation_id", "job_id", "pipeline", "pipeline_version", "source", "created_at",
        ]
        var container = encoder.container(keyedBy: Key.self)
        for (name, value) in analysis where !reserved.contains(name) { try container.encode(value, forKey: Key(stringValue: name)) }
        try envelope.encode(to: encoder)
    }
}
