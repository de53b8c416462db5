import Foundation
import SQLKit

/// What a pipeline concluded about one conversation. Times are milliseconds since 1970.
public struct Insight: Sendable, Equatable {
    public var id: String
    public var teamID: String
    public var conversationID: String
    /// The job that stored it.
    public var jobID: String
    public var pipeline: String
    public var pipelineVersion: Int
    /// SHA-256 of the normalised text and the pipeline version: the exact cache's key.
    public var contentHash: String
    /// `analyzer`, or the cache (`exact_cache`, `semantic_cache`) it was copied from.
    public var source: String
    /// JSON object: the analysis as the API shows it.
    public var analysis: String
    /// The conversation's embedding (little-endian float32), compared by the semantic cache.
    public var embedding: Data?
    /// The model that made it: only embeddings of the same model are compared.
    public var embeddingModel: String?
    public var createdAt: Int64

    static let columnNames = [
        "id", "team_id", "conversation_id", "job_id", "pipeline", "pipeline_version", "content_hash", "source", "analysis", "embedding",
        "embedding_model", "created_at",
    ]
    static let columns = SQLQueryString(columnNames.joined(separator: ", "))

    init(row: any SQLRow) throws {
        id = try row.decode(column: "id", as: String.self)
        teamID = try row.decode(column: "team_id", as: String.self)
        conversationID = try row.decode(column: "conversation_id", as: String.self)
        jobID = try row.decode(column: "job_id", as: String.self)
        pipeline = try row.decode(column: "pipeline", as: String.self)
        pipelineVersion = try row.decode(column: "pipeline_version", as: Int.self)
        contentHash = try row.decode(column: "content_hash", as: String.self)
        source = try row.decode(column: "source", as: String.self)
        analysis = try row.decode(column: "analysis", as: String.self)
        embedding = try row.decode(column: "embedding", as: String?.self).flatMap { Data(base64Encoded: $0) }
        embeddingModel = try row.decode(column: "embedding_model", as: String?.self)
        createdAt = try row.decode(column: "created_at", as: Int64.self)
    }
}

/// An insight to store for a conversation.
public struct NewInsight: Sendable, Equatable {
    public var conversationID: String
    public var jobID: String
    public var pipeline: String
    public var pipelineVersion: Int
    public var contentHash: String
    public var source: String
    public var analysis: String
    public var embedding: Data?
    public var embeddingModel: String?
    /// What `GET /v1/insights?label=` finds it by: its sentiment and topics.
    public var labels: [String]

    public init(
        conversationID: String, jobID: String, pipeline: String, pipelineVersion: Int, contentHash: String, source: String,
        analysis: String, embedding: Data?, embeddingModel: String?, labels: [String]
    ) {
        self.conversationID = conversationID
        self.jobID = jobID
        self.pipeline = pipeline
        self.pipelineVersion = pipelineVersion
        self.contentHash = contentHash
        self.source = source
        self.analysis = analysis
        self.embedding = embedding
        self.embeddingModel = embeddingModel
        self.labels = labels
    }
}

/// Which of a team's insights `GET /v1/insights` lists.
public struct InsightFilter: Sendable, Equatable {
    public var conversationID: String?
    public var label: String?
    /// Created at or after, milliseconds since 1970.
    public var since: Int64?
    /// Created before.
    public var until: Int64?

    public init(conversationID: String? = nil, label: String? = nil, since: Int64? = nil, until: Int64? = nil) {
        self.conversationID = conversationID
        self.label = label
        self.since = since
        self.until = until
    }
}

public struct InsightsRepository: Repository {
    let database: Database
    /// Stores a conversation's insight, marks the conversation analyzed (a failed one too, when its job
    /// was retried) and records `event`, in one transaction. A conversation has one insight: when it
    /// already has one (its job ran again after a crash), nothing is written and that insight is
    /// returned with `created` false. `usage`, what producing it cost, is billed with it, so once.
    public func store(
        _ new: NewInsight, teamID: String, event: @Sendable (_ insightID: String) -> NewEvent, usage: [UsageEvent] = [],
        now: Int64 = StoreTime.now()
    )
        async throws -> (insight: Insight, created: Bool)
    {
        let id = randomIdentifier()
        let event = event(id)
        return try await transaction { sql in
            let inserted =
                try await sql.raw(
                    """
                    INSERT INTO insights (id, team_id, conversation_id, job_id, pipeline, pipeline_version, content_hash, source, analysis,
                                          embedding, embedding_model, created_at)
                    VALUES (\(bind: id), \(bind: teamID), \(bind: new.conversationID), \(bind: new.jobID), \(bind: new.pipeline),
                            \(bind: new.pipelineVersion), \(bind: new.contentHash), \(bind: new.source), \(bind: new.analysis),
                            \(bind: new.embedding?.base64EncodedString()), \(bind: new.embeddingModel), \(bind: now))
                    ON CONFLICT (conversation_id) DO NOTHING RETURNING id
                    """
                ).first() != nil
            if inserted {
                for label in Set(new.labels) {
                    try await sql.raw(
                        """
                        INSERT INTO insight_labels (insight_id, team_id, label, created_at)
                        VALUES (\(bind: id), \(bind: teamID), \(bind: label), \(bind: now))
                        """
                    ).run()
                }
                try await sql.raw(
                    """
                    UPDATE conversations SET status = \(bind: ConversationStatus.analyzed.rawValue), reason = NULL
                    WHERE id = \(bind: new.conversationID)
                    """
                ).run()
                try await database.events.insert(event, teamID: teamID, now: now, in: sql)
                try await UsageRepository.insert(usage, on: sql)
            }
            guard
                let row = try await sql.raw("SELECT \(Insight.columns) FROM insights WHERE conversation_id = \(bind: new.conversationID)")
                    .first()
            else { throw StoreError.notFound("insight of conversation \(new.conversationID)") }
            return (try Insight(row: row), inserted)
        }
    }

    /// The insight of a conversation, if it has one.
    public func find(ofConversation conversationID: String, teamID: String) async throws -> Insight? {
        try await read { sql in
            try await sql.raw(
                "SELECT \(Insight.columns) FROM insights WHERE conversation_id = \(bind: conversationID) AND team_id = \(bind: teamID)"
            ).first().map(Insight.init(row:))
        }
    }

    /// The team's latest insight with this content hash: the exact cache.
    public func find(withContentHash hash: String, teamID: String) async throws -> Insight? {
        try await read { sql in
            try await sql.raw(
                """
                SELECT \(Insight.columns) FROM insights WHERE team_id = \(bind: teamID) AND content_hash = \(bind: hash)
                ORDER BY created_at DESC, id DESC LIMIT 1
                """
            ).first().map(Insight.init(row:))
        }
    }

    /// The embeddings of the team's `limit` latest insights of a pipeline version made by `model`: what the
    /// semantic cache compares a new conversation with (the vectors only; the closest is read afterwards).
    public func recentEmbeddings(teamID: String, pipeline: String, version: Int, model: String, limit: Int) async throws -> [(
        id: String, embedding: Data
    )] {
        try await read { sql in
            try await sql.raw(
                """
                SELECT id, embedding FROM insights
                WHERE team_id = \(bind: teamID) AND pipeline = \(bind: pipeline) AND pipeline_version = \(bind: version)
                      AND embedding_model = \(bind: model) AND embedding IS NOT NULL
                ORDER BY created_at DESC, id DESC LIMIT \(bind: limit)
                """
            ).all().compactMap { row in
                guard let bytes = Data(base64Encoded: try row.decode(column: "embedding", as: String.self)) else { return nil }
                return (try row.decode(column: "id", as: String.self), bytes)
            }
        }
    }

    /// One of the team's insights.
    public func find(_ id: String, teamID: String) async throws -> Insight? {
        try await read { sql in
            try await sql.raw("SELECT \(Insight.columns) FROM insights WHERE id = \(bind: id) AND team_id = \(bind: teamID)").first()
                .map(Insight.init(row:))
        }
    }

    /// A team's insights, newest first, `limit` of them after the insight `cursor` (the last of the previous page).
    public func list(teamID: String, matching filter: InsightFilter = .init(), limit: Int, after cursor: String? = nil) async throws
        -> [Insight]
    {
        try await read { sql in
            // With a label, the label's index drives the query (a rare label does not scan the team's history).
            let source: SQLQueryString
            let order: SQLQueryString
            var condition: SQLQueryString
            if let label = filter.label {
                source = "insight_labels JOIN insights ON insights.id = insight_labels.insight_id"
                condition = "insight_labels.team_id = \(bind: teamID) AND insight_labels.label = \(bind: label)"
                order = "insight_labels.created_at DESC, insight_labels.insight_id DESC"
            } else {
                source = "insights"
                condition = "insights.team_id = \(bind: teamID)"
                order = "insights.created_at DESC, insights.id DESC"
            }
            if let conversationID = filter.conversationID {
                condition = "\(condition) AND insights.conversation_id = \(bind: conversationID)"
            }
            if let since = filter.since { condition = "\(condition) AND insights.created_at >= \(bind: since)" }
            if let until = filter.until { condition = "\(condition) AND insights.created_at < \(bind: until)" }
            if let cursor {
                condition = """
                    \(condition) AND (insights.created_at, insights.id) < (
                        SELECT created_at, id FROM insights AS page WHERE page.id = \(bind: cursor) AND page.team_id = \(bind: teamID))
                    """
            }
            let columns = Insight.columnNames.map { "insights.\($0)" }.joined(separator: ", ")
            return try await sql.raw(
                "SELECT \(unsafeRaw: columns) FROM \(source) WHERE \(condition) ORDER BY \(order) LIMIT \(bind: limit)"
            ).all().map(Insight.init(row:))
        }
    }
}

extension Database {
    /// Insights, the analyses of conversations, with their labels and embeddings.
    public var insights: InsightsRepository { InsightsRepository(database: self) }
}
