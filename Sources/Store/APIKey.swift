import Crypto
import Foundation
import SQLKit

/// What an API key may do. Routes name the scope they need; `admin` is needed for the admin API of
/// the key's team, `operator` for what spans the whole server (`/metrics`, `/v1/admin/debug`), which
/// no team's admin may see: only the bootstrap admin key and keys made with the CLI have it.
public enum Scope: String, Sendable, CaseIterable, Codable, Comparable {
    case embeddings, chat, jobs, insights, agents, admin, `operator`

    public static func < (lhs: Scope, rhs: Scope) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }

    /// Scopes a key gets when none are named: everything but administration and operation.
    public static let defaultScopes: Set<Scope> = [.embeddings, .chat, .jobs, .insights, .agents]
    /// Everything a team's own administrator may hold: all but `operator`.
    public static let teamScopes: Set<Scope> = Set(allCases).subtracting([.operator])
}

/// An API key as stored: never the secret itself, only its SHA-256 and a short prefix that lets
/// people tell their keys apart.
public struct APIKey: Sendable, Equatable {
    public var id: String
    public var teamID: String
    public var name: String
    /// The first characters of the secret, safe to show.
    public var prefix: String
    public var scopes: Set<Scope>
    public var createdAt: Int64
    public var expiresAt: Int64?
    public var revokedAt: Int64?
    public var lastUsedAt: Int64?
    public var limits: Limits = .none
    /// The API version (`Conduit-Version`) the key's requests get when they name none; nil: the latest.
    public var apiVersion: String?

    public func isUsable(at now: Int64) -> Bool {
        revokedAt == nil && (expiresAt.map { now < $0 } ?? true)
    }

    init(row: any SQLRow) throws {
        id = try row.decode(column: "id", as: String.self)
        teamID = try row.decode(column: "team_id", as: String.self)
        name = try row.decode(column: "name", as: String.self)
        prefix = try row.decode(column: "prefix", as: String.self)
        scopes = Set(try row.decode(column: "scopes", as: String.self).split(separator: " ").compactMap { Scope(rawValue: String($0)) })
        createdAt = try row.decode(column: "created_at", as: Int64.self)
        expiresAt = try row.decode(column: "expires_at", as: Int64?.self)
        revokedAt = try row.decode(column: "revoked_at", as: Int64?.self)
        lastUsedAt = try row.decode(column: "last_used_at", as: Int64?.self)
        limits = try row.decode(Limits.self)
        apiVersion = try row.decode(column: "api_version", as: String?.self)
    }

    init(id: String, teamID: String, name: String, prefix: String, scopes: Set<Scope>, createdAt: Int64, expiresAt: Int64?) {
        self.id = id
        self.teamID = teamID
        self.name = name
        self.prefix = prefix
        self.scopes = scopes
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}

/// A new key with its secret, which exists only here: it is shown once and never stored.
public struct IssuedAPIKey: Sendable {
    public let key: APIKey
    public let secret: String
}

/// The shape of a secret: `cdt_` then 43 characters of base64url (32 random bytes). An operator may
/// also supply their own administrator key, of 32 to 256 visible ASCII characters.
public enum APIKeySecret {
    static let marker = "cdt_"
    /// Characters of a generated secret kept as the visible prefix: the marker and 48 random bits.
    static let visibleLength = 12
    /// Of a secret the operator chose, far less is shown: its entropy is unknown.
    static let visibleLengthOfSuppliedSecret = 4
    static let suppliedLength = 32...256

    static func visiblePrefix(of secret: String) -> String {
        let isGenerated = secret.hasPrefix(marker) && secret.utf8.count == marker.utf8.count + 43
        return String(secret.prefix(isGenerated ? visibleLength : visibleLengthOfSuppliedSecret))
    }

    static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return marker + Base64URL.encode(Data(bytes))
    }

    /// Whether `value` could be a key at all; anything else is refused before a database lookup.
    public static func isWellFormed(_ value: String) -> Bool {
        suppliedLength.contains(value.utf8.count) && value.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }

    /// SHA-256 in hex. A key carries 256 random bits, so a fast hash is as safe as a slow one here, and
    /// lets every request look its key up by hash.
    static func hash(_ secret: String) -> String {
        SHA256.hash(data: Data(secret.utf8)).hexadecimal
    }
}

public struct APIKeysRepository: Repository {
    let database: Database
    /// A new key; its secret is generated unless `secret` is given (an operator's own admin key); pinned to
    /// `apiVersion` when given.
    public func create(
        name: String, teamID: String, scopes: Set<Scope> = Scope.defaultScopes, expiresAt: Int64? = nil, secret given: String? = nil,
        apiVersion: String? = nil
    ) async throws -> IssuedAPIKey {
        if let given, !APIKeySecret.isWellFormed(given) {
            throw StoreError.invalidValue(
                "a supplied API key must be \(APIKeySecret.suppliedLength.lowerBound) to \(APIKeySecret.suppliedLength.upperBound) visible ASCII characters"
            )
        }
        let secret = given ?? APIKeySecret.generate()
        var key = APIKey(
            id: randomIdentifier(), teamID: teamID, name: name, prefix: APIKeySecret.visiblePrefix(of: secret),
            scopes: scopes, createdAt: StoreTime.now(), expiresAt: expiresAt)
        key.apiVersion = apiVersion
        try await transaction { [key] sql in
            guard try await sql.raw("SELECT id FROM teams WHERE id = \(bind: teamID)").first() != nil else {
                throw StoreError.notFound("team \(teamID)")
            }
            try await Self.insert(key, secretHash: APIKeySecret.hash(secret), into: sql)
            try await database.events.insert(
                NewEvent(KeyEvents.Created(keyID: key.id, name: key.name, prefix: key.prefix, scopes: key.scopes.sorted().map(\.rawValue))),
                teamID: teamID, now: key.createdAt, in: sql)
        }
        return IssuedAPIKey(key: key, secret: secret)
    }

    private static func insert(_ key: APIKey, secretHash: String, into sql: any SQLDatabase) async throws {
        let scopes = key.scopes.sorted().map(\.rawValue).joined(separator: " ")
        try await sql.raw(
            """
            INSERT INTO api_keys (id, team_id, name, prefix, secret_hash, scopes, created_at, expires_at,
                                  requests_per_minute, tokens_per_minute, monthly_tokens, monthly_budget_usd, api_version)
            VALUES (\(bind: key.id), \(bind: key.teamID), \(bind: key.name), \(bind: key.prefix), \(bind: secretHash),
                    \(bind: scopes), \(bind: key.createdAt), \(bind: key.expiresAt),
                    \(bind: key.limits.requestsPerMinute), \(bind: key.limits.tokensPerMinute), \(bind: key.limits.monthlyTokens),
                    \(bind: key.limits.monthlyBudgetUSD), \(bind: key.apiVersion))
            """
        ).run()
    }

    /// The key whose secret this is, whatever its state (the caller decides what revoked or expired means).
    public func find(secret: String) async throws -> APIKey? {
        try await findWithTeamLimits(secret: secret)?.key
    }

    /// The key whose secret this is, with its team's limits, in one query: what authenticating a request needs.
    public func findWithTeamLimits(secret: String) async throws -> (key: APIKey, teamLimits: Limits)? {
        guard APIKeySecret.isWellFormed(secret) else { return nil }
        let hash = APIKeySecret.hash(secret)
        let now = StoreTime.now()
        if let found = database.authenticatedKeys.find(secretHash: hash, now: now) { return found }
        let generation = database.authenticatedKeys.generation()
        let found = try await read { sql in
            try await sql.raw(
                "SELECT k.*, \(Limits.teamColumns) FROM api_keys k JOIN teams t ON t.id = k.team_id WHERE k.secret_hash = \(bind: hash)"
            ).first().map { (key: try APIKey(row: $0), teamLimits: try $0.decode(Limits.self, prefix: "team_")) }
        }
        if let found {
            database.authenticatedKeys.keep(found.key, teamLimits: found.teamLimits, secretHash: hash, now: now, readAt: generation)
        }
        return found
    }

    /// Records that the key was used now (at most once a minute per key, to keep writes off the hot path).
    public func touch(_ key: APIKey, at now: Int64 = StoreTime.now()) async throws {
        guard (key.lastUsedAt ?? 0) < now - StoreTime.minute else { return }
        try await read { sql in try await sql.raw("UPDATE api_keys SET last_used_at = \(bind: now) WHERE id = \(bind: key.id)").run() }
        database.authenticatedKeys.used(key.id, at: now)
    }

    /// The team's keys, or every key when `teamID` is nil.
    public func list(teamID: String?) async throws -> [APIKey] {
        try await read { sql in
            let rows =
                if let teamID {
                    try await sql.raw("SELECT * FROM api_keys WHERE team_id = \(bind: teamID) ORDER BY created_at, id").all()
                } else {
                    try await sql.raw("SELECT * FROM api_keys ORDER BY created_at, id").all()
                }
            return try rows.map(APIKey.init(row:))
        }
    }

    /// The key with this id, only when it belongs to `teamID` (any team when nil): another team's key is not found.
    public func find(id: String, teamID: String?) async throws -> APIKey? {
        try await read { sql in
            try await sql.raw("SELECT * FROM api_keys WHERE id = \(bind: id)").first().map(APIKey.init(row:))
        }.flatMap { key in teamID == nil || key.teamID == teamID ? key : nil }
    }

    public func setLimits(_ limits: Limits, forKey id: String) async throws {
        guard let key = try await find(id: id, teamID: nil) else { throw StoreError.notFound("API key \(id)") }
        try await database.setLimits(limits, table: "api_keys", id: id, teamID: key.teamID, keyID: id)
        database.authenticatedKeys.forget(keyID: id)
    }

    /// Revokes the key; revoking twice keeps the first time.
    public func revoke(id: String, teamID: String?) async throws -> APIKey {
        guard let found = try await find(id: id, teamID: teamID) else { throw StoreError.notFound("API key \(id)") }
        let now = StoreTime.now()
        try await transaction { sql in
            let revoked = try await sql.raw(
                "UPDATE api_keys SET revoked_at = \(bind: now) WHERE id = \(bind: id) AND revoked_at IS NULL RETURNING id"
            ).first()
            if revoked != nil {
                try await database.events.insert(
                    NewEvent(KeyEvents.Revoked(keyID: id, name: found.name)), teamID: found.teamID, now: now, in: sql)
            }
        }
        database.authenticatedKeys.forget(keyID: id)
        guard let key = try await find(id: id, teamID: teamID) else { throw StoreError.notFound("API key \(id)") }
        return key
    }

    /// Issues a new secret for the key's name, team and scopes, and revokes the old key, in one transaction.
    public func rotate(id: String, teamID: String?) async throws -> IssuedAPIKey {
        let secret = APIKeySecret.generate()
        let now = StoreTime.now()
        let key = try await transaction { sql in
            guard let old = try await sql.raw("SELECT * FROM api_keys WHERE id = \(bind: id)").first().map(APIKey.init(row:)),
                teamID == nil || old.teamID == teamID, old.revokedAt == nil
            else { throw StoreError.notFound("API key \(id)") }
            guard old.isUsable(at: now) else { throw StoreError.conflict("API key \(id) has expired; create a new one") }
            var key = APIKey(
                id: randomIdentifier(), teamID: old.teamID, name: old.name,
                prefix: APIKeySecret.visiblePrefix(of: secret), scopes: old.scopes, createdAt: now, expiresAt: old.expiresAt)
            key.limits = old.limits
            key.apiVersion = old.apiVersion
            try await sql.raw("UPDATE api_keys SET revoked_at = \(bind: now) WHERE id = \(bind: id)").run()
            try await Self.insert(key, secretHash: APIKeySecret.hash(secret), into: sql)
            try await database.events.insert(
                NewEvent(KeyEvents.Rotated(keyID: id, replacementID: key.id, prefix: key.prefix)), teamID: key.teamID, now: now, in: sql)
            return key
        }
        database.authenticatedKeys.forget(keyID: id)
        return IssuedAPIKey(key: key, secret: secret)
    }
}

extension Database {
    /// API keys: issued, looked up by secret, revoked and rotated.
    public var keys: APIKeysRepository { APIKeysRepository(database: self) }
}
