import Foundation
import SQLKit

/// A tenant: every object in the store belongs to exactly one team.
public struct Team: Sendable, Equatable, Codable {
    public var id: String
    public var name: String
    public var createdAt: Int64
    public var limits: Limits

    enum CodingKeys: String, CodingKey {
        case id, name, limits
        case createdAt = "created_at"
    }

    init(row: any SQLRow) throws {
        id = try row.decode(column: "id", as: String.self)
        name = try row.decode(column: "name", as: String.self)
        createdAt = try row.decode(column: "created_at", as: Int64.self)
        limits = try Limits(row: row)
    }

    init(id: String, name: String, createdAt: Int64) {
        self.id = id
        self.name = name
        self.createdAt = createdAt
        self.limits = .none
    }
}

extension Database {
    public func createTeam(name: String) async throws -> Team {
        let team = Team(id: UUID().uuidString.lowercased(), name: name, createdAt: Timestamp.now())
        // One statement, so two processes creating the same team cannot both pass a check and one then
        // fail on the unique index: the loser gets no row back.
        let inserted = try await read { sql in
            try await sql.raw(
                """
                INSERT INTO teams (id, name, created_at) VALUES (\(bind: team.id), \(bind: team.name), \(bind: team.createdAt))
                ON CONFLICT (name) DO NOTHING RETURNING id
                """
            ).first()
        }
        guard inserted != nil else { throw StoreError.conflict("a team named '\(name)' already exists") }
        return team
    }

    public func teams() async throws -> [Team] {
        try await read { sql in try await sql.raw("SELECT * FROM teams ORDER BY created_at, name").all().map(Team.init(row:)) }
    }

    /// The team with exactly this id.
    public func team(id: String) async throws -> Team? {
        try await read { sql in try await sql.raw("SELECT * FROM teams WHERE id = \(bind: id)").first().map(Team.init(row:)) }
    }

    /// The team with this id, or else with this name (for people typing at the command line).
    public func team(_ idOrName: String) async throws -> Team? {
        if let team = try await team(id: idOrName) { return team }
        return try await read { sql in
            try await sql.raw("SELECT * FROM teams WHERE name = \(bind: idOrName)").first().map(Team.init(row:))
        }
    }

    /// The team named `name`, created when missing.
    public func ensureTeam(named name: String) async throws -> Team {
        if let team = try await team(name) { return team }
        do {
            return try await createTeam(name: name)
        } catch StoreError.conflict {
            // Another process created it between the two calls.
            guard let team = try await team(name) else { throw StoreError.notFound("team \(name)") }
            return team
        }
    }
}
