import SQLKit

/// One immutable version of an agent's declaration: the first content seen is version 1, each different
/// content the next number; a content seen before keeps its number. Times are milliseconds since 1970.
public struct AgentVersion: Sendable, Equatable, Decodable {
    public var agent: String
    public var version: Int64
    /// SHA-256 of the declaration's canonical JSON.
    public var contentHash: String
    /// The declaration as JSON.
    public var declaration: String
    public var createdAt: Int64

    static let columns: SQLQueryString = "agent, version, content_hash, declaration, created_at"
}

public struct AgentVersionsRepository: Repository {
    let database: Database

    /// The version of `agent` with this content, numbered next after the agent's latest when it is new.
    /// Nodes that read the same file at once agree on its number: the loser of the race for a number reads
    /// the winner's.
    public func record(agent: String, contentHash: String, declaration: String, now: Int64 = StoreTime.now()) async throws -> AgentVersion {
        for _ in 0..<5 {
            let recorded = try await transaction { sql -> AgentVersion? in
                if let known = try await Self.find(agent: agent, contentHash: contentHash, in: sql) { return known }
                let next =
                    (try await sql.raw("SELECT MAX(version) AS latest FROM agent_versions WHERE agent = \(bind: agent)").first()?
                        .decode(column: "latest", as: Int64?.self) ?? 0) + 1
                try await sql.raw(
                    """
                    INSERT INTO agent_versions (agent, version, content_hash, declaration, created_at)
                    VALUES (\(bind: agent), \(bind: next), \(bind: contentHash), \(bind: declaration), \(bind: now)) ON CONFLICT DO NOTHING
                    """
                ).run()
                return try await Self.find(agent: agent, contentHash: contentHash, in: sql)
            }
            if let recorded { return recorded }
        }
        throw StoreError.conflict("the versions of agent '\(agent)' kept changing while this one was recorded; try again")
    }

    private static func find(agent: String, contentHash: String, in sql: any SQLDatabase) async throws -> AgentVersion? {
        try await sql.raw(
            "SELECT \(AgentVersion.columns) FROM agent_versions WHERE agent = \(bind: agent) AND content_hash = \(bind: contentHash)"
        ).first()?.decode(AgentVersion.self)
    }

    /// The agent's versions, newest first.
    public func list(agent: String) async throws -> [AgentVersion] {
        try await read { sql in
            try await sql.raw("SELECT \(AgentVersion.columns) FROM agent_versions WHERE agent = \(bind: agent) ORDER BY version DESC").all()
                .map { try $0.decode(AgentVersion.self) }
        }
    }

    public func find(agent: String, version: Int64) async throws -> AgentVersion? {
        try await read { sql in
            try await sql.raw(
                "SELECT \(AgentVersion.columns) FROM agent_versions WHERE agent = \(bind: agent) AND version = \(bind: version)"
            )
            .first()?.decode(AgentVersion.self)
        }
    }
}

extension Database {
    /// The versions of the agents' declarations.
    public var agentVersions: AgentVersionsRepository { AgentVersionsRepository(database: self) }
}
