import SQLKit

/// A chat answer kept for deterministic requests, per team, until it expires.
public struct CachedAnswer: Sendable, Equatable, Decodable {
    public var teamID: String
    /// SHA-256 of the normalised request (the gateway's).
    public var key: String
    /// The provider's answer, as it gave it.
    public var body: String
    /// The deployment that answered.
    public var deployment: String
    public var createdAt: Int64
    public var expiresAt: Int64

    public init(teamID: String, key: String, body: String, deployment: String, createdAt: Int64, expiresAt: Int64) {
        self.teamID = teamID
        self.key = key
        self.body = body
        self.deployment = deployment
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

/// The chat gateway's exact cache, in the store so that every node shares it.
public struct ChatCacheRepository: Repository {
    let database: Database

    /// The answer kept for `key` in `teamID`, unless it has expired.
    public func find(teamID: String, key: String, now: Int64 = StoreTime.now()) async throws -> CachedAnswer? {
        try await read { sql in
            try await sql.raw(
                """
                SELECT * FROM chat_cache WHERE team_id = \(bind: teamID) AND key = \(bind: key) AND expires_at > \(bind: now)
                """
            ).first().map { try $0.decode(CachedAnswer.self) }
        }
    }

    /// Keeps `answer`, replacing an older one of the same key.
    public func store(_ answer: CachedAnswer) async throws {
        try await read { sql in
            try await sql.raw(
                """
                INSERT INTO chat_cache (team_id, key, body, deployment, created_at, expires_at)
                VALUES (\(bind: answer.teamID), \(bind: answer.key), \(bind: answer.body), \(bind: answer.deployment),
                        \(bind: answer.createdAt), \(bind: answer.expiresAt))
                ON CONFLICT (team_id, key) DO UPDATE SET body = excluded.body, deployment = excluded.deployment,
                    created_at = excluded.created_at, expires_at = excluded.expires_at
                """
            ).run()
        }
    }

    /// Deletes the answers expired by `now`.
    public func prune(now: Int64 = StoreTime.now()) async throws {
        try await read { sql in try await sql.raw("DELETE FROM chat_cache WHERE expires_at <= \(bind: now)").run() }
    }
}

extension Database {
    public var chatCache: ChatCacheRepository { ChatCacheRepository(database: self) }
}
