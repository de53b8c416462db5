import Foundation
import SQLKit

/// A chat answer kept for the semantic cache: the single-turn prompt it answered, embedded, within its
/// context (the rest of the request), per team, until it expires.
public struct SemanticCacheEntry: Sendable, Equatable {
    public var teamID: String
    /// SHA-256 of the request without its user message (the gateway's): only answers given in the same
    /// context (model, system prompt, parameters) are compared.
    public var context: String
    /// The local model that embedded the prompt: vectors of different models are never compared.
    public var embeddingModel: String
    /// Little-endian float32.
    public var embedding: Data
    /// The user message answered, for operators to see what was reused.
    public var prompt: String
    public var body: String
    public var deployment: String
    public var createdAt: Int64
    public var expiresAt: Int64

    public init(
        teamID: String, context: String, embeddingModel: String, embedding: Data, prompt: String, body: String, deployment: String,
        createdAt: Int64, expiresAt: Int64
    ) {
        self.teamID = teamID
        self.context = context
        self.embeddingModel = embeddingModel
        self.embedding = embedding
        self.prompt = prompt
        self.body = body
        self.deployment = deployment
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

/// The chat gateway's semantic cache, in the store so that every node shares it.
public struct ChatSemanticCacheRepository: Repository {
    let database: Database

    /// The team's latest `limit` unexpired entries of `context` embedded by `embeddingModel`, newest first.
    public func candidates(teamID: String, context: String, embeddingModel: String, limit: Int, now: Int64 = StoreTime.now())
        async throws -> [SemanticCacheEntry]
    {
        try await read { sql in
            try await sql.raw(
                """
                SELECT team_id, context, embedding_model, embedding, prompt, body, deployment, created_at, expires_at
                FROM chat_semantic_cache
                WHERE team_id = \(bind: teamID) AND context = \(bind: context) AND embedding_model = \(bind: embeddingModel)
                  AND expires_at > \(bind: now)
                ORDER BY created_at DESC LIMIT \(bind: limit)
                """
            ).all().map { row in
                SemanticCacheEntry(
                    teamID: try row.decode(column: "team_id", as: String.self), context: try row.decode(column: "context", as: String.self),
                    embeddingModel: try row.decode(column: "embedding_model", as: String.self),
                    embedding: Data(base64Encoded: try row.decode(column: "embedding", as: String.self)) ?? Data(),
                    prompt: try row.decode(column: "prompt", as: String.self), body: try row.decode(column: "body", as: String.self),
                    deployment: try row.decode(column: "deployment", as: String.self),
                    createdAt: try row.decode(column: "created_at", as: Int64.self),
                    expiresAt: try row.decode(column: "expires_at", as: Int64.self))
            }
        }
    }

    public func store(_ entry: SemanticCacheEntry) async throws {
        try await read { sql in
            try await sql.raw(
                """
                INSERT INTO chat_semantic_cache (id, team_id, context, embedding_model, embedding, prompt, body, deployment, created_at,
                                                 expires_at)
                VALUES (\(bind: randomIdentifier()), \(bind: entry.teamID), \(bind: entry.context), \(bind: entry.embeddingModel),
                        \(bind: entry.embedding.base64EncodedString()), \(bind: entry.prompt), \(bind: entry.body), \(bind: entry.deployment),
                        \(bind: entry.createdAt), \(bind: entry.expiresAt))
                """
            ).run()
        }
    }

    /// Deletes the entries expired by `now`.
    public func prune(now: Int64 = StoreTime.now()) async throws {
        try await read { sql in try await sql.raw("DELETE FROM chat_semantic_cache WHERE expires_at <= \(bind: now)").run() }
    }
}

extension Database {
    public var chatSemanticCache: ChatSemanticCacheRepository { ChatSemanticCacheRepository(database: self) }
}
