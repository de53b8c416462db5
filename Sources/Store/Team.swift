import Foundation
import SQLKit

/// A tenant: every object in the store belongs to exactly one team.
public struct Team: Sendable, Equatable {
    public var id: String
    public var name: String
    public var createdAt: Int64
    public var limits: Limits

    /// Its columns, and its limits from the same row (SQLKit decodes no nested values).
    init(row: any SQLRow) throws {
        let columns = try row.decode(Columns.self)
        self.init(id: columns.id, name: columns.name, createdAt: columns.createdAt)
        limits = try row.decode(Limits.self)
    }

    private struct Columns: Decodable {
        var id: String
        var name: String
        var createdAt: Int64
    }

    init(id: String, name: String, createdAt: Int64) {
        self.id = id
        self.name = name
        self.createdAt = createdAt
        self.limits = .none
    }
}

public struct TeamsRepository: Repository {
    let database: Database
    public func create(name: String) async throws -> Team {
        let team = Team(id: randomIdentifier(), name: name, createdAt: StoreTime.now())
        // One statement, so two processes creating the same team cannot both pass a check and one then
        // fail on the unique index: the loser gets no row back.
        let events = database.events
        let inserted = try await transaction { sql in
            let inserted = try await sql.raw(
                """
                INSERT INTO teams (id, name, created_at) VALUES (\(bind: team.id), \(bind: team.name), \(bind: team.createdAt))
                ON CONFLICT (name) DO NOTHING RETURNING id
                """
            ).first()
            if inserted != nil {
                try await events.insert(NewEvent(TeamEvents.Created(name: team.name)), teamID: team.id, now: team.createdAt, in: sql)
            }
            return inserted
        }
        guard inserted != nil else { throw StoreError.conflict("a team named '\(name)' already exists") }
        return team
    }

    public func list() async throws -> [Team] {
        try await read { sql in try await sql.raw("SELECT * FROM teams ORDER BY created_at, name").all().map(Team.init(row:)) }
    }

    /// The team with exactly this id.
    public func find(id: String) async throws -> Team? {
        try await read { sql in try await sql.raw("SELECT * FROM teams WHERE id = \(bind: id)").first().map(Team.init(row:)) }
    }

    /// The team with this id, or else with this name (for people typing at the command line).
    public func find(_ idOrName: String) async throws -> Team? {
        if let team = try await find(id: idOrName) { return team }
        return try await read { sql in
            try await sql.raw("SELECT * FROM teams WHERE name = \(bind: idOrName)").first().map(Team.init(row:))
        }
    }

    public func setLimits(_ limits: Limits, forTeam id: String) async throws {
        guard try await find(id) != nil else { throw StoreError.notFound("team \(id)") }
        try await database.setLimits(limits, table: "teams", id: id, teamID: id, keyID: nil)
        database.authenticatedKeys.forgetAll()
    }

    /// The team named `name`, created when missing.
    public func ensure(named name: String) async throws -> Team {
        if let team = try await find(name) { return team }
        do {
            return try await create(name: name)
        } catch StoreError.conflict {
            // Another process created it between the two calls.
            guard let team = try await find(name) else { throw StoreError.notFound("team \(name)") }
            return team
        }
    }
}

extension Database {
    /// Teams, the tenants every object belongs to.
    public var teams: TeamsRepository { TeamsRepository(database: self) }
}
