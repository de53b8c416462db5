import Foundation
import HummingbirdBcrypt
import NIOPosix
import SQLKit
import Synchronization

/// What a user may do in their team.
public enum Role: String, Sendable, CaseIterable, Codable {
    case owner, admin, member, viewer

    /// The scopes a user's access token carries.
    public var scopes: Set<Scope> {
        switch self {
        case .owner, .admin: Scope.teamScopes
        case .member: Scope.defaultScopes
        case .viewer: [.insights]
        }
    }
}

/// A person who logs in with an email and a password (stored as a bcrypt hash).
public struct User: Sendable, Equatable, Decodable {
    public var id: String
    public var teamID: String
    public var email: String
    public var role: Role
    public var createdAt: Int64

    public init(id: String, teamID: String, email: String, role: Role, createdAt: Int64) {
        self.id = id
        self.teamID = teamID
        self.email = email
        self.role = role
        self.createdAt = createdAt
    }
}

public struct UsersRepository: Repository {
    let database: Database
    /// Adds a user, the password hashed at `cost` (by default the store's `passwordCost`).
    public func create(
        email: String, password: String, role: Role, teamID: String, cost: UInt8? = nil
    ) async throws -> User {
        let cost = cost ?? database.passwordCost
        let email = email.trimmingCharacters(in: .whitespaces).lowercased()
        guard email.contains("@"), (3...254).contains(email.count) else {
            throw StoreError.invalidValue("'\(email)' is not an email address")
        }
        // bcrypt reads at most 72 bytes; a longer password would be silently cut.
        guard (8...72).contains(password.utf8.count) else { throw StoreError.invalidValue("a password must be 8 to 72 bytes") }
        guard try await database.teams.find(teamID) != nil else { throw StoreError.notFound("team \(teamID)") }
        let user = User(id: randomIdentifier(), teamID: teamID, email: email, role: role, createdAt: StoreTime.now())
        let hash = try await Self.passwordHashing.runIfActive { Bcrypt.hash(password, cost: cost) }
        let events = database.events
        let inserted = try await transaction { sql in
            let inserted = try await sql.raw(
                """
                INSERT INTO users (id, team_id, email, password_hash, role, created_at)
                VALUES (\(bind: user.id), \(bind: user.teamID), \(bind: user.email), \(bind: hash), \(bind: user.role.rawValue), \(bind: user.createdAt))
                ON CONFLICT (team_id, email) DO NOTHING RETURNING id
                """
            ).first()
            if inserted != nil {
                try await events.insert(
                    NewEvent(UserEvents.Created(userID: user.id, role: user.role.rawValue)), teamID: teamID, now: user.createdAt, in: sql)
            }
            return inserted
        }
        // Only this team's users conflict: whether the email has an account elsewhere is not told.
        guard inserted != nil else { throw StoreError.conflict("this team already has a user with the email '\(email)'") }
        return user
    }

    /// The user with this email and password, or nil; `team` (id or name) picks among the teams an email
    /// has accounts in. Takes as long for an unknown email as for a wrong password, so that the timing
    /// does not tell which emails exist.
    public func authenticate(email: String, password: String, team: String? = nil) async throws -> User? {
        // bcrypt would compare only the first 72 bytes: a longer password is not the one that was set.
        guard password.utf8.count <= 72 else { return nil }
        let rows = try await accounts(email: email, team: team)
        var matching: [User] = []
        for row in rows {
            let hash = try row.decode(column: "password_hash", as: String.self)
            if try await Self.passwordHashing.runIfActive({ Bcrypt.verify(password, hash: hash) }) {
                matching.append(try row.decode(User.self))
            }
        }
        if rows.isEmpty {
            _ = try await Self.passwordHashing.runIfActive { Bcrypt.verify(password, hash: Self.decoyHash(cost: database.passwordCost)) }
        }
        // Told only to whoever knows the password of more than one of the accounts.
        guard matching.count <= 1 else {
            throw StoreError.invalidValue("this email and password belong to users of several teams: name the team in `team`")
        }
        return matching.first
    }

    /// The users with this email, of the team `team` (id or name) when given, oldest first. At most
    /// `maximumTeamsPerEmail`, so that a login checks a bounded number of passwords.
    private func accounts(email: String, team: String?) async throws -> [any SQLRow] {
        let email = email.trimmingCharacters(in: .whitespaces).lowercased()
        return try await read { sql in
            if let team {
                try await sql.raw(
                    """
                    SELECT u.* FROM users u JOIN teams t ON t.id = u.team_id
                    WHERE u.email = \(bind: email) AND (t.id = \(bind: team) OR t.name = \(bind: team))
                    """
                ).all()
            } else {
                try await sql.raw(
                    "SELECT * FROM users WHERE email = \(bind: email) ORDER BY created_at LIMIT \(literal: Self.maximumTeamsPerEmail)"
                ).all()
            }
        }
    }

    /// The teams one email can log in to without naming the team; past it, a login names it.
    static let maximumTeamsPerEmail = 8

    public func find(id: String) async throws -> User? {
        try await findWithTeamLimits(id: id)?.user
    }

    /// The user with its team's limits, in one query: what authenticating a request needs.
    public func findWithTeamLimits(id: String) async throws -> (user: User, teamLimits: Limits)? {
        try await read { sql in
            try await sql.raw("SELECT u.*, \(Limits.teamColumns) FROM users u JOIN teams t ON t.id = u.team_id WHERE u.id = \(bind: id)")
                .first().map { (try $0.decode(User.self), try $0.decode(Limits.self, prefix: "team_")) }
        }
    }

    /// The team's users, or every user when `teamID` is nil.
    public func list(teamID: String?) async throws -> [User] {
        try await read { sql in
            let rows =
                if let teamID {
                    try await sql.raw("SELECT * FROM users WHERE team_id = \(bind: teamID) ORDER BY created_at, email").all()
                } else {
                    try await sql.raw("SELECT * FROM users ORDER BY created_at, email").all()
                }
            return try rows.map { try $0.decode(User.self) }
        }
    }

    /// Changes the role of the user `id` of `teamID`; takes effect with the user's next request (a
    /// request reads the role as stored).
    public func setRole(_ role: Role, ofUser id: String, teamID: String) async throws -> User {
        let events = database.events
        return try await transaction { sql in
            guard
                let row = try await sql.raw(
                    "UPDATE users SET role = \(bind: role.rawValue) WHERE id = \(bind: id) AND team_id = \(bind: teamID) RETURNING *"
                ).first()
            else { throw StoreError.notFound("user \(id)") }
            try await events.insert(
                NewEvent(UserEvents.RoleChanged(userID: id, role: role.rawValue)), teamID: teamID, now: StoreTime.now(), in: sql)
            return try row.decode(User.self)
        }
    }

    /// Deletes the user `id` of `teamID` with its refresh tokens: its access tokens stop working at once
    /// (a request finds no user), and it cannot log in or refresh. Returns the user as it was.
    public func delete(id: String, teamID: String) async throws -> User {
        let events = database.events
        return try await transaction { sql in
            guard
                let row = try await sql.raw("DELETE FROM users WHERE id = \(bind: id) AND team_id = \(bind: teamID) RETURNING *").first()
            else { throw StoreError.notFound("user \(id)") }
            try await events.insert(NewEvent(UserEvents.Deleted(userID: id)), teamID: teamID, now: StoreTime.now(), in: sql)
            return try row.decode(User.self)
        }
    }

    /// The users with this email, of the team `team` (id or name) when given, oldest first.
    public func find(email: String, team: String? = nil) async throws -> [User] {
        try await accounts(email: email, team: team).map { try $0.decode(User.self) }
    }

    /// bcrypt runs here, a thread of its own, one hash at a time: a quarter second of CPU each, it would
    /// otherwise stall the cooperative pool that serves every request, and a flood of logins queues
    /// behind itself instead of behind everyone.
    private static let passwordHashing: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        return pool
    }()

    /// A bcrypt hash of nothing anyone knows, at `cost`, verified against when the email is unknown;
    /// made once per cost.
    private static func decoyHash(cost: UInt8) -> String {
        decoyHashes.withLock { hashes in
            if let hash = hashes[cost] { return hash }
            let hash = Bcrypt.hash(UUID().uuidString, cost: cost)
            hashes[cost] = hash
            return hash
        }
    }

    private static let decoyHashes = Mutex<[UInt8: String]>([:])
}

extension Database {
    /// People who log in, and their passwords (bcrypt).
    public var users: UsersRepository { UsersRepository(database: self) }
}
