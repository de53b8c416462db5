import Foundation
import SQLKit

/// A document a project writes under a key (`requirements`, `architecture`), kept as numbered versions of
/// which at most one is `current`. Times are milliseconds since 1970.
public struct Specification: Sendable, Equatable, Decodable {
    public var id: String
    public var teamID: String
    public var projectID: String
    public var key: String
    public var title: String
    public var createdAt: Int64
    /// The number of its current version; nil until one is promoted.
    public var currentVersion: Int64?
    /// The number of its newest version; nil before the first.
    public var latestVersion: Int64?

    static let columns: SQLQueryString = """
        id, team_id, project_id, key, title, created_at,
        (SELECT version FROM specification_versions v WHERE v.specification_id = specifications.id AND v.status = 'current') AS current_version,
        (SELECT MAX(version) FROM specification_versions v WHERE v.specification_id = specifications.id) AS latest_version
        """
}

/// Where a version stands: written (`draft`), the one in force (`current`), replaced by a later promotion
/// (`superseded`).
public enum SpecificationStatus: String, Sendable, Codable {
    case draft, current, superseded
}

/// One version of a specification, and where it came from.
public struct SpecificationVersion: Sendable, Equatable {
    public var specificationID: String
    public var version: Int64
    /// The version it was written from; nil for the first.
    public var baseVersion: Int64?
    public var status: SpecificationStatus
    public var body: String
    /// The ids of the sections it has (its headings).
    public var sections: [String]
    public var summary: String
    /// What produced it: a session's turn and the agent's version, when an agent wrote it.
    public var sessionID: String?
    public var turnID: String?
    public var agent: String?
    public var agentVersion: Int64?
    public var createdAt: Int64
    public var promotedAt: Int64?
    /// The version whose promotion superseded it.
    public var supersededBy: Int64?

    static let columns: SQLQueryString = """
        specification_id, version, base_version, status, body, sections, summary, session_id, turn_id, agent, agent_version, created_at,
        promoted_at, superseded_by
        """

    init(row: any SQLRow) throws {
        specificationID = try row.decode(column: "specification_id", as: String.self)
        version = try row.decode(column: "version", as: Int64.self)
        baseVersion = try row.decode(column: "base_version", as: Int64?.self)
        status = SpecificationStatus(rawValue: try row.decode(column: "status", as: String.self)) ?? .draft
        body = try row.decode(column: "body", as: String.self)
        sections = try JSONDecoder().decode([String].self, from: Data(try row.decode(column: "sections", as: String.self).utf8))
        summary = try row.decode(column: "summary", as: String.self)
        sessionID = try row.decode(column: "session_id", as: String?.self)
        turnID = try row.decode(column: "turn_id", as: String?.self)
        agent = try row.decode(column: "agent", as: String?.self)
        agentVersion = try row.decode(column: "agent_version", as: Int64?.self)
        createdAt = try row.decode(column: "created_at", as: Int64.self)
        promotedAt = try row.decode(column: "promoted_at", as: Int64?.self)
        supersededBy = try row.decode(column: "superseded_by", as: Int64?.self)
    }
}

/// A version to write.
public struct NewSpecificationVersion: Sendable {
    public var body: String
    public var sections: [String]
    public var summary: String
    public var sessionID: String?
    public var turnID: String?
    public var agent: String?
    public var agentVersion: Int64?

    public init(
        body: String, sections: [String], summary: String, sessionID: String? = nil, turnID: String? = nil, agent: String? = nil,
        agentVersion: Int64? = nil
    ) {
        self.body = body
        self.sections = sections
        self.summary = summary
        self.sessionID = sessionID
        self.turnID = turnID
        self.agent = agent
        self.agentVersion = agentVersion
    }
}

/// Why a write to a specification did not happen.
public enum SpecificationConflict: Error, Sendable, Equatable {
    /// The version written from is not the newest.
    case staleBase(latest: Int64?)
    /// The current version is not the one the caller expected.
    case staleCurrent(current: Int64?)
}

public struct SpecificationsRepository: Repository {
    let database: Database

    /// Most specifications of one project, and versions of one specification.
    public static let maximumPerProject = 1_000
    public static let maximumVersions = 10_000

    public func create(
        projectID: String, teamID: String, key: String, title: String, event: @Sendable (_ id: String) -> NewEvent,
        now: Int64 = StoreTime.now()
    ) async throws -> Specification {
        let id = randomIdentifier()
        let recorded = event(id)
        let events = database.events
        return try await transaction { sql in
            let count =
                try await sql.raw("SELECT COUNT(*) AS n FROM specifications WHERE project_id = \(bind: projectID)").first()?
                .decode(column: "n", as: Int.self) ?? 0
            guard count < Self.maximumPerProject else {
                throw StoreError.conflict("a project has at most \(Self.maximumPerProject) specifications")
            }
            guard
                try await sql.raw(
                    """
                    INSERT INTO specifications (id, team_id, project_id, key, title, created_at)
                    VALUES (\(bind: id), \(bind: teamID), \(bind: projectID), \(bind: key), \(bind: title), \(bind: now))
                    ON CONFLICT DO NOTHING RETURNING id
                    """
                ).first() != nil
            else { throw StoreError.conflict("the project already has a specification '\(key)'") }
            try await events.insert(recorded, teamID: teamID, now: now, in: sql)
            guard let created = try await Self.fetch(id, teamID: teamID, in: sql) else { throw StoreError.notFound("specification \(id)") }
            return created
        }
    }

    private static func fetch(_ id: String, teamID: String, in sql: any SQLDatabase) async throws -> Specification? {
        try await sql.raw("SELECT \(Specification.columns) FROM specifications WHERE id = \(bind: id) AND team_id = \(bind: teamID)")
            .first()?
            .decode(Specification.self)
    }

    public func find(_ id: String, teamID: String) async throws -> Specification? {
        try await read { sql in try await Self.fetch(id, teamID: teamID, in: sql) }
    }

    /// The project's specifications by key.
    public func list(projectID: String, teamID: String) async throws -> [Specification] {
        try await read { sql in
            try await sql.raw(
                """
                SELECT \(Specification.columns) FROM specifications WHERE project_id = \(bind: projectID) AND team_id = \(bind: teamID) ORDER BY key
                """
            ).all().map { try $0.decode(Specification.self) }
        }
    }

    /// Writes the next version, as a draft, if `base` is still the newest (nil: there is none yet);
    /// throws `SpecificationConflict.staleBase` otherwise: no edit silently overwrites another.
    public func write(
        _ new: NewSpecificationVersion, to specification: Specification, base: Int64?,
        event: @escaping @Sendable (_ version: Int64) -> NewEvent,
        now: Int64 = StoreTime.now()
    ) async throws -> SpecificationVersion {
        let sections = String(decoding: try JSONEncoder().encode(new.sections), as: UTF8.self)
        let events = database.events
        return try await transaction { sql in
            let latest = try await sql.raw(
                "SELECT MAX(version) AS latest FROM specification_versions WHERE specification_id = \(bind: specification.id)"
            ).first()?.decode(column: "latest", as: Int64?.self)
            guard latest == base else { throw SpecificationConflict.staleBase(latest: latest) }
            let version = (latest ?? 0) + 1
            guard version <= Self.maximumVersions else {
                throw StoreError.conflict("a specification has at most \(Self.maximumVersions) versions")
            }
            // The primary key (specification, version) stops a second writer from the same base.
            guard
                try await sql.raw(
                    """
                    INSERT INTO specification_versions (specification_id, version, base_version, status, body, sections, summary, session_id,
                        turn_id, agent, agent_version, created_at)
                    VALUES (\(bind: specification.id), \(bind: version), \(bind: base), 'draft', \(bind: new.body), \(bind: sections),
                        \(bind: new.summary), \(bind: new.sessionID), \(bind: new.turnID), \(bind: new.agent), \(bind: new.agentVersion), \(bind: now))
                    ON CONFLICT DO NOTHING RETURNING version
                    """
                ).first() != nil
            else { throw SpecificationConflict.staleBase(latest: version) }
            try await events.insert(event(version), teamID: specification.teamID, now: now, in: sql)
            guard let written = try await Self.version(version, of: specification.id, in: sql) else {
                throw StoreError.notFound("version \(version) of specification \(specification.id)")
            }
            return written
        }
    }

    private static func version(_ version: Int64, of id: String, in sql: any SQLDatabase) async throws -> SpecificationVersion? {
        try await sql.raw(
            "SELECT \(SpecificationVersion.columns) FROM specification_versions WHERE specification_id = \(bind: id) AND version = \(bind: version)"
        ).first().map(SpecificationVersion.init(row:))
    }

    public func version(_ version: Int64, of specification: Specification) async throws -> SpecificationVersion? {
        try await read { sql in try await Self.version(version, of: specification.id, in: sql) }
    }

    /// The specification's versions, newest first.
    public func versions(of specification: Specification) async throws -> [SpecificationVersion] {
        try await read { sql in
            try await sql.raw(
                """
                SELECT \(SpecificationVersion.columns) FROM specification_versions WHERE specification_id = \(bind: specification.id)
                ORDER BY version DESC
                """
            ).all().map(SpecificationVersion.init(row:))
        }
    }

    /// Makes `version` the current one and the one it replaces `superseded`, in one transaction, if the
    /// current version is still `expected` (when given). The database keeps one current version per
    /// specification: of two promotions at once, one waits for the other and then finds it changed.
    /// Nil when there is no such version.
    public func promote(
        _ version: Int64, of specification: Specification, expectingCurrent expected: Int64??,
        events: @escaping @Sendable (_ previous: Int64?) -> [NewEvent],
        now: Int64 = StoreTime.now()
    ) async throws -> SpecificationVersion? {
        let store = database
        // PostgreSQL's row lock; SQLite's transactions already hold the one write lock.
        let lock = store.dialect == .postgres ? "FOR UPDATE" : ""
        return try await transaction { sql in
            // Taken first, so that promotions of one specification run one after the other.
            try await sql.raw("SELECT id FROM specifications WHERE id = \(bind: specification.id) \(unsafeRaw: lock)").run()
            guard let target = try await Self.version(version, of: specification.id, in: sql) else { return nil }
            let current = try await sql.raw(
                "SELECT version FROM specification_versions WHERE specification_id = \(bind: specification.id) AND status = 'current'"
            ).first()?.decode(column: "version", as: Int64.self)
            if let expected, expected != current { throw SpecificationConflict.staleCurrent(current: current) }
            guard target.status != .current else { return target }
            try await sql.raw(
                """
                UPDATE specification_versions SET status = 'superseded', superseded_by = \(bind: version)
                WHERE specification_id = \(bind: specification.id) AND status = 'current'
                """
            ).run()
            try await sql.raw(
                """
                UPDATE specification_versions SET status = 'current', promoted_at = \(bind: now), superseded_by = NULL
                WHERE specification_id = \(bind: specification.id) AND version = \(bind: version)
                """
            ).run()
            for event in events(current) { try await store.events.insert(event, teamID: specification.teamID, now: now, in: sql) }
            return try await Self.version(version, of: specification.id, in: sql)
        }
    }
}

/// A version a session's turn produced.
public struct SpecificationLineage: Sendable, Equatable {
    public var specificationID: String
    public var key: String
    public var version: Int64
    public var status: SpecificationStatus
    public var sessionID: String
    public var turnID: String
    public var agent: String?
    public var agentVersion: Int64?

    init(row: any SQLRow) throws {
        specificationID = try row.decode(column: "specification_id", as: String.self)
        key = try row.decode(column: "key", as: String.self)
        version = try row.decode(column: "version", as: Int64.self)
        status = SpecificationStatus(rawValue: try row.decode(column: "status", as: String.self)) ?? .draft
        sessionID = try row.decode(column: "session_id", as: String.self)
        turnID = try row.decode(column: "turn_id", as: String.self)
        agent = try row.decode(column: "agent", as: String?.self)
        agentVersion = try row.decode(column: "agent_version", as: Int64?.self)
    }

    static let query: SQLQueryString = """
        SELECT v.specification_id, s.key, v.version, v.status, v.session_id, v.turn_id, v.agent, v.agent_version
        FROM specification_versions v JOIN specifications s ON s.id = v.specification_id
        """
}

extension SpecificationsRepository {
    /// The versions of `specification` that sessions' turns produced, oldest first.
    public func lineage(of specification: Specification) async throws -> [SpecificationLineage] {
        try await read { sql in
            try await sql.raw(
                "\(SpecificationLineage.query) WHERE v.specification_id = \(bind: specification.id) AND v.turn_id IS NOT NULL ORDER BY v.version"
            ).all().map(SpecificationLineage.init(row:))
        }
    }

    /// The versions of any specification that the session's turns produced, oldest first.
    public func lineage(ofSession sessionID: String, teamID: String) async throws -> [SpecificationLineage] {
        try await read { sql in
            try await sql.raw(
                """
                \(SpecificationLineage.query) WHERE v.session_id = \(bind: sessionID) AND v.turn_id IS NOT NULL AND s.team_id = \(bind: teamID)
                ORDER BY v.created_at, v.version
                """
            ).all().map(SpecificationLineage.init(row:))
        }
    }
}

extension Database {
    /// The projects' specifications and their versions.
    public var specifications: SpecificationsRepository { SpecificationsRepository(database: self) }
}
