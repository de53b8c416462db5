import Foundation
import SQLKit

/// A team's project: a piece of work in a domain, moving through the domain's lifecycle. `version`
/// counts its changes, for `expected_version` on a transition. Times are milliseconds since 1970.
public struct Project: Sendable, Equatable, Decodable {
    public var id: String
    public var teamID: String
    public var name: String
    public var description: String
    public var domain: String
    public var state: String
    public var version: Int64
    public var createdAt: Int64
    public var updatedAt: Int64

    static let columns: SQLQueryString = "id, team_id, name, description, domain, state, version, created_at, updated_at"
}

/// A project's move from one state to another, kept as its history.
public struct ProjectTransition: Sendable, Equatable, Decodable {
    public var projectID: String
    /// The project's version the move made.
    public var version: Int64
    public var fromState: String
    public var toState: String
    public var reason: String
    /// Who moved it (`EventActor`).
    public var actor: String?
    public var createdAt: Int64

    static let columns: SQLQueryString = "project_id, version, from_state, to_state, reason, actor, created_at"
}

public struct ProjectsRepository: Repository {
    let database: Database

    /// Most projects a team may have.
    public static let maximumPerTeam = 10_000

    public func create(
        teamID: String, name: String, description: String, domain: String, state: String,
        event: @Sendable (_ projectID: String) -> NewEvent,
        now: Int64 = StoreTime.now()
    ) async throws -> Project {
        let id = randomIdentifier()
        let recorded = event(id)
        let events = database.events
        return try await transaction { sql in
            let count =
                try await sql.raw("SELECT COUNT(*) AS n FROM projects WHERE team_id = \(bind: teamID)").first()?.decode(
                    column: "n", as: Int.self)
                ?? 0
            guard count < Self.maximumPerTeam else {
                throw StoreError.conflict("a team has at most \(Self.maximumPerTeam) projects")
            }
            try await sql.raw(
                """
                INSERT INTO projects (id, team_id, name, description, domain, state, version, created_at, updated_at)
                VALUES (\(bind: id), \(bind: teamID), \(bind: name), \(bind: description), \(bind: domain), \(bind: state), 1, \(bind: now),
                        \(bind: now))
                """
            ).run()
            try await events.insert(recorded, teamID: teamID, now: now, in: sql)
            guard let project = try await Self.fetch(id, teamID: teamID, in: sql) else { throw StoreError.notFound("project \(id)") }
            return project
        }
    }

    private static func fetch(_ id: String, teamID: String, in sql: any SQLDatabase) async throws -> Project? {
        try await sql.raw("SELECT \(Project.columns) FROM projects WHERE id = \(bind: id) AND team_id = \(bind: teamID)").first()?
            .decode(Project.self)
    }

    /// The project, if it belongs to the team.
    public func find(_ id: String, teamID: String) async throws -> Project? {
        try await read { sql in try await Self.fetch(id, teamID: teamID, in: sql) }
    }

    /// The team's projects, newest first, `limit` of them after the project `cursor`; of one state when `state` is set.
    public func list(teamID: String, state: String? = nil, limit: Int, after cursor: String? = nil) async throws -> [Project] {
        try await read { sql in
            var filter: SQLQueryString = ""
            if let state { filter = "AND state = \(bind: state)" }
            if let cursor {
                filter = """
                    \(filter) AND (created_at, id) < (SELECT created_at, id FROM projects WHERE id = \(bind: cursor) AND team_id = \(bind: teamID))
                    """
            }
            return try await sql.raw(
                """
                SELECT \(Project.columns) FROM projects WHERE team_id = \(bind: teamID) \(filter)
                ORDER BY created_at DESC, id DESC LIMIT \(bind: limit)
                """
            ).all().map { try $0.decode(Project.self) }
        }
    }

    /// Moves the project to `state` if it is still at `version`, recording the move and its event in one
    /// transaction; nil when it changed meanwhile (or is not the team's).
    public func transition(
        _ id: String, teamID: String, at version: Int64, to state: String, reason: String, event: NewEvent, now: Int64 = StoreTime.now()
    ) async throws -> (project: Project, transition: ProjectTransition)? {
        let events = database.events
        return try await transaction { sql in
            guard
                let from = try await sql.raw(
                    """
                    SELECT state FROM projects WHERE id = \(bind: id) AND team_id = \(bind: teamID) AND version = \(bind: version)
                    """
                ).first()?.decode(column: "state", as: String.self),
                try await sql.raw(
                    """
                    UPDATE projects SET state = \(bind: state), version = version + 1, updated_at = \(bind: now)
                    WHERE id = \(bind: id) AND version = \(bind: version) RETURNING id
                    """
                ).first() != nil
            else { return nil }
            try await sql.raw(
                """
                INSERT INTO project_transitions (project_id, version, from_state, to_state, reason, actor, created_at)
                VALUES (\(bind: id), \(bind: version + 1), \(bind: from), \(bind: state), \(bind: reason), \(bind: event.actor), \(bind: now))
                """
            ).run()
            try await events.insert(event, teamID: teamID, now: now, in: sql)
            guard let project = try await Self.fetch(id, teamID: teamID, in: sql),
                let transition = try await sql.raw(
                    "SELECT \(ProjectTransition.columns) FROM project_transitions WHERE project_id = \(bind: id) AND version = \(bind: version + 1)"
                ).first()?.decode(ProjectTransition.self)
            else { throw StoreError.notFound("project \(id)") }
            return (project, transition)
        }
    }

    /// The project's moves, oldest first; none when it is not the team's.
    public func transitions(of id: String, teamID: String) async throws -> [ProjectTransition] {
        try await read { sql in
            try await sql.raw(
                """
                SELECT \(ProjectTransition.columns) FROM project_transitions
                WHERE project_id = (SELECT id FROM projects WHERE id = \(bind: id) AND team_id = \(bind: teamID)) ORDER BY version
                """
            ).all().map { try $0.decode(ProjectTransition.self) }
        }
    }

    /// The sections of the current version of the project's specification `key`; nil when it has none.
    public func currentSpecificationSections(projectID: String, teamID: String, key: String) async throws -> [String]? {
        try await read { sql in
            try await sql.raw(
                """
                SELECT v.sections FROM specifications s JOIN specification_versions v ON v.specification_id = s.id
                WHERE s.project_id = \(bind: projectID) AND s.team_id = \(bind: teamID) AND s.key = \(bind: key) AND v.status = 'current'
                """
            ).first().map { row in try JSONDecoder().decode([String].self, from: Data(row.decode(column: "sections", as: String.self).utf8))
            }
        }
    }
}

extension Database {
    /// The teams' projects and their lifecycles.
    public var projects: ProjectsRepository { ProjectsRepository(database: self) }
}
