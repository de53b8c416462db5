import Foundation
import SQLKit

/// Where a conversation is in its pipeline.
public enum ConversationStatus: String, Sendable, Codable {
    /// Its job has not stored an insight yet.
    case pending
    case analyzed
    /// The prefilter left it out (`reason` says why).
    case skipped
    /// Its job failed its last attempt (`reason` says why); retrying the job analyses it again.
    case failed
}

/// A conversation as ingested: messages and metadata as JSON, the pipeline that analyses it, the job
/// that runs it. Times are milliseconds since 1970.
public struct Conversation: Sendable, Equatable, Decodable {
    public var id: String
    public var teamID: String
    public var pipeline: String
    /// JSON array of `{"role", "content"}`.
    public var messages: String
    /// JSON object.
    public var metadata: String
    public var status: ConversationStatus
    /// Why it was skipped or failed.
    public var reason: String?
    public var jobID: String
    public var createdAt: Int64

    static let columnNames = ["id", "team_id", "pipeline", "messages", "metadata", "status", "reason", "job_id", "created_at"]
    static let columns = SQLQueryString(columnNames.joined(separator: ", "))
}

/// A conversation as submitted.
public struct NewConversation: Sendable, Equatable {
    public var pipeline: String
    public var messages: String
    public var metadata: String
    public var messageCount: Int

    public init(pipeline: String, messages: String, metadata: String, messageCount: Int = 1) {
        self.pipeline = pipeline
        self.messages = messages
        self.metadata = metadata
        self.messageCount = messageCount
    }
}

public struct ConversationsRepository: Repository {
    let database: Database
    /// Stores conversations and, in the same transaction, the job that analyses each (`job` makes it from
    /// the conversation's id): committed together when this returns, or not at all. With `maxWaiting`,
    /// throws `queueFull` when the team's waiting jobs in the job's queue would exceed it.
    ///
    /// With an idempotency key, a submission the team already made under it returns the conversations it
    /// stored (`created` false); with other conversations it throws `idempotencyKeyReused`.
    public func create(
        _ conversations: [NewConversation], teamID: String, idempotencyKey: String? = nil, maxWaiting: Int? = nil,
        now: Int64 = StoreTime.now(), job: @escaping @Sendable (_ conversationID: String) -> NewJob
    ) async throws -> (conversations: [Conversation], created: Bool) {
        // The key is kept on the jobs, one per conversation, apart from the keys of /v1/jobs; the one key more
        // tells an earlier submission of more conversations.
        let jobKeys = idempotencyKey.map { key in (0...conversations.count).map { "conversations:\(key)#\($0)" } }
        do {
            return try await insertConversations(
                conversations, teamID: teamID, jobKeys: jobKeys, maxWaiting: maxWaiting, now: now, job: job)
        } catch ConcurrentSubmission.sameKey {
            // Another submission with the key committed first: now it is found and answered.
            return try await insertConversations(
                conversations, teamID: teamID, jobKeys: jobKeys, maxWaiting: maxWaiting, now: now, job: job)
        }
    }

    private enum ConcurrentSubmission: Error { case sameKey }

    private func insertConversations(
        _ conversations: [NewConversation], teamID: String, jobKeys: [String]?, maxWaiting: Int?, now: Int64,
        job: @escaping @Sendable (_ conversationID: String) -> NewJob
    ) async throws -> (conversations: [Conversation], created: Bool) {
        let ids = conversations.map { _ in (conversation: randomIdentifier(), job: randomIdentifier()) }
        let jobs = zip(ids, conversations.indices).map { id, index in
            var new = job(id.conversation)
            new.idempotencyKey = jobKeys?[index]
            return new
        }
        let queues = Set(jobs.map(\.queue))
        return try await transaction { sql in
            if let jobKeys {
                let earlier = try await Self.conversations(withJobKeys: jobKeys, teamID: teamID, in: sql)
                if !earlier.isEmpty {
                    let same =
                        earlier.count == conversations.count
                        && zip(earlier, conversations).allSatisfy {
                            $0.pipeline == $1.pipeline && $0.messages == $1.messages && $0.metadata == $1.metadata
                        }
                    guard same else { throw JobQueueError.idempotencyKeyReused }
                    return (earlier, false)
                }
            }
            if let maxWaiting {
                for queue in queues {
                    try await JobsRepository.checkRoom(
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
                try await JobsRepository.insertJob(job, id: id.job, teamID: teamID, now: now, in: sql)
            }
            // PostgreSQL: a submission with the same key that committed meanwhile made the job insert do nothing.
            if let key = jobKeys?.first,
                try await sql.raw("SELECT id FROM jobs WHERE team_id = \(bind: teamID) AND idempotency_key = \(bind: key)").first()?
                    .decode(column: "id", as: String.self) != ids.first?.job
            {
                throw ConcurrentSubmission.sameKey
            }
            for queue in queues { try await database.jobs.wakeWorkers(of: queue, in: sql) }
            let rows = try await sql.raw(
                "SELECT \(Conversation.columns) FROM conversations WHERE id IN (\(binds: ids.map(\.conversation)))"
            ).all().map { try $0.decode(Conversation.self) }
            let byID = Dictionary(uniqueKeysWithValues: rows.map { ($0.id, $0) })
            return (ids.compactMap { byID[$0.conversation] }, true)
        }
    }

    /// The conversations whose jobs carry these idempotency keys, in the keys' order.
    private static func conversations(withJobKeys keys: [String], teamID: String, in sql: any SQLDatabase) async throws -> [Conversation] {
        let rows = try await sql.raw(
            """
            SELECT jobs.idempotency_key AS job_key, \(unsafeRaw: Conversation.columnNames.map { "conversations.\($0)" }.joined(separator: ", "))
            FROM jobs JOIN conversations ON conversations.job_id = jobs.id
            WHERE jobs.team_id = \(bind: teamID) AND jobs.idempotency_key IN (\(binds: keys))
            """
        ).all()
        let byKey = Dictionary(
            try rows.map { (try $0.decode(column: "job_key", as: String.self), try $0.decode(Conversation.self)) }
        ) { first, _ in first }
        return keys.compactMap { byKey[$0] }
    }

    /// The conversation, if it exists and (when `teamID` is given) belongs to that team.
    public func find(_ id: String, teamID: String? = nil) async throws -> Conversation? {
        try await read { sql in
            var team: SQLQueryString = ""
            if let teamID { team = "AND team_id = \(bind: teamID)" }
            return try await sql.raw("SELECT \(Conversation.columns) FROM conversations WHERE id = \(bind: id) \(team)").first()
                .map { try $0.decode(Conversation.self) }
        }
    }

    /// Settles a conversation that gets no insight, `skipped` by the prefilter or `failed` at its job's
    /// last attempt, and announces it, once: a second call (its job run again) changes nothing and
    /// announces nothing. A failed conversation may still be skipped or analysed when its job is retried.
    public func close(
        _ id: String, as status: ConversationStatus, reason: String, event: NewEvent, now: Int64 = StoreTime.now()
    ) async throws {
        try await transaction { sql in
            let updated = try await sql.raw(
                """
                UPDATE conversations SET status = \(bind: status.rawValue), reason = \(bind: reason)
                WHERE id = \(bind: id) AND status IN ('pending', 'failed') AND status <> \(bind: status.rawValue) RETURNING team_id
                """
            ).first()
            if let teamID = try updated?.decode(column: "team_id", as: String.self) {
                try await database.events.insert(event, teamID: teamID, now: now, in: sql)
            }
        }
    }
}

extension Database {
    /// Conversations submitted for analysis.
    public var conversations: ConversationsRepository { ConversationsRepository(database: self) }
}
