import Foundation
import SQLKit

/// Where a conversation is in its pipeline.
public enum ConversationStatus: String, Sendable, Codable {
    /// Its job has not stored an insight yet.
    case pending
    case analyzed
    /// The prefilter left it out (`skipReason` says why).
    case skipped
}

/// A conversation as ingested: messages and metadata as JSON, the pipeline that analyses it, the job
/// that runs it. Times are milliseconds since 1970.
public struct Conversation: Sendable, Equatable {
    public var id: String
    public var teamID: String
    public var pipeline: String
    /// JSON array of `{"role", "content"}`.
    public var messages: String
    /// JSON object.
    public var metadata: String
    public var status: ConversationStatus
    public var skipReason: String?
    public var jobID: String
    public var createdAt: Int64

    static let columns: SQLQueryString = "id, team_id, pipeline, messages, metadata, status, skip_reason, job_id, created_at"

    init(row: any SQLRow) throws {
        id = try row.decode(column: "id", as: String.self)
        teamID = try row.decode(column: "team_id", as: String.self)
        pipeline = try row.decode(column: "pipeline", as: String.self)
        messages = try row.decode(column: "messages", as: String.self)
        metadata = try row.decode(column: "metadata", as: String.self)
        let statusName = try row.decode(column: "status", as: String.self)
        guard let status = ConversationStatus(rawValue: statusName) else {
            throw StoreError.invalidValue("conversation \(id) has an unknown status '\(statusName)'")
        }
        self.status = status
        skipReason = try row.decode(column: "skip_reason", as: String?.self)
        jobID = try row.decode(column: "job_id", as: String.self)
        createdAt = try row.decode(column: "created_at", as: Int64.self)
    }
}

/// A conversation as submitted.
public struct NewConversation: Sendable, Equatable {
    public var pipeline: String
    public var messages: String
    public var metadata: String

    public init(pipeline: String, messages: String, metadata: String) {
        self.pipeline = pipeline
        self.messages = messages
        self.metadata = metadata
    }
}

extension Database {
    /// Stores conversations and, in the same transaction, the job that analyses each (`job` makes it from
    /// the conversation's id): committed together when this returns, or not at all. With `maxWaiting`,
    /// throws `queueFull` when the team's waiting jobs in the job's queue would exceed it.
    public func createConversations(
        _ conversations: [NewConversation], teamID: String, maxWaiting: Int? = nil, now: Int64 = Milliseconds.now(),
        job: @escaping @Sendable (_ conversationID: String) -> NewJob
    ) async throws -> [Conversation] {
        let ids = conversations.map { _ in (conversation: UUID().uuidString.lowercased(), job: UUID().uuidString.lowercased()) }
        let jobs = ids.map { job($0.conversation) }
        let queues = Set(jobs.map(\.queue))
        return try await transaction { sql in
            if let maxWaiting {
                for queue in queues {
                    try await Self.checkRoom(
                        for: jobs.count { $0.queue == queue }, in: queue, teamID: teamID, maxWaiting: maxWaiting, in: sql)
                }
            }
            for ((conversation, id), job) in zip(zip(conversations, ids), jobs) {
                try await sql.raw(
                    """
                    INSERT INTO conversations (id, team_id, pipeline, messages, metadata, status, job_id, created_at)
                    VALUES (\(bind: id.conversation), \(bind: teamID), \(bind: conversation.pipeline), \(bind: conversation.messages),
                            \(bind: conversation.metadata), \(bind: ConversationStatus.pending.rawValue), \(bind: id.job), \(bind: now))
                    """
                ).run()
                try await Self.insertJob(job, id: id.job, teamID: teamID, now: now, in: sql)
            }
            if self.dialect == .postgres {
                for queue in queues { try await sql.raw("SELECT pg_notify(\(bind: Self.jobsChannel), \(bind: queue))").run() }
            }
            let rows = try await sql.raw(
                "SELECT \(Conversation.columns) FROM conversations WHERE id IN (\(binds: ids.map(\.conversation)))"
            ).all().map(Conversation.init(row:))
            let byID = Dictionary(uniqueKeysWithValues: rows.map { ($0.id, $0) })
            return ids.compactMap { byID[$0.conversation] }
        }
    }

    /// The conversation, if it exists and (when `teamID` is given) belongs to that team.
    public func conversation(_ id: String, teamID: String? = nil) async throws -> Conversation? {
        try await read { sql in
            var team: SQLQueryString = ""
            if let teamID { team = "AND team_id = \(bind: teamID)" }
            return try await sql.raw("SELECT \(Conversation.columns) FROM conversations WHERE id = \(bind: id) \(team)").first()
                .map(Conversation.init(row:))
        }
    }

    /// Marks a pending conversation skipped by the prefilter and announces it, once: a second call (its
    /// job run again) changes nothing and announces nothing.
    public func skipConversation(_ id: String, reason: String, event: NewEvent, now: Int64 = Milliseconds.now()) async throws {
        try await transaction { sql in
            let updated = try await sql.raw(
                """
                UPDATE conversations SET status = \(bind: ConversationStatus.skipped.rawValue), skip_reason = \(bind: reason)
                WHERE id = \(bind: id) AND status = \(bind: ConversationStatus.pending.rawValue) RETURNING team_id
                """
            ).first()
            if let teamID = try updated?.decode(column: "team_id", as: String.self) {
                try await Self.insertEvent(event, teamID: teamID, now: now, in: sql)
            }
        }
    }
}
