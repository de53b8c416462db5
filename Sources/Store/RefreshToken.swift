import Crypto
import Foundation
import SQLKit

/// What presenting a refresh token leads to.
public enum RefreshOutcome: Sendable, Equatable {
    /// A new refresh token for the user, in the same family; the presented one is spent.
    case rotated(user: User, refreshToken: String)
    /// The token was already spent: someone replayed it, so its whole family is revoked.
    case reused
    /// Unknown, expired, or revoked.
    case invalid
}

/// Refresh tokens: opaque, single-use, stored as a SHA-256, grouped in families (one login each).
/// Each use spends the token and issues the next of its family; a spent token presented again means
/// it was stolen or replayed, and revokes the family, which logs out both the thief and the user.
/// The next token keeps the expiry of the one it replaces: a login lasts its lifetime however often
/// it is refreshed, so a stolen family cannot be kept alive for ever.
public struct RefreshTokensRepository: Repository {
    let database: Database
    static let refreshMarker = "cdr_"

    /// A new refresh token for `userID`, valid for `lifetime`, starting a family unless `family` is given.
    public func issue(userID: String, lifetime: Duration, family: String? = nil) async throws -> String {
        let secret = Self.newRefreshSecret()
        try await read { sql in
            let now = StoreTime.now()
            try await Self.insertRefreshToken(
                secret, userID: userID, family: family ?? randomIdentifier(), now: now,
                expiresAt: now + StoreTime.span(lifetime), sql: sql)
        }
        return secret
    }

    public func refresh(_ secret: String, now: Int64 = StoreTime.now()) async throws -> RefreshOutcome {
        let hash = APIKeySecret.hash(secret)
        return try await transaction { sql in
            guard
                let token = try await sql.raw("SELECT * FROM refresh_tokens WHERE token_hash = \(bind: hash)").first()?.decode(Stored.self),
                token.revokedAt == nil
            else { return .invalid }
            let (id, family, userID) = (token.id, token.familyID, token.userID)
            // Spend it only if nobody has: of two racing uses, one gets the row and the other sees a replay.
            let spent = try await sql.raw(
                "UPDATE refresh_tokens SET used_at = \(bind: now) WHERE id = \(bind: id) AND used_at IS NULL RETURNING id"
            ).first()
            guard spent != nil else {
                try await sql.raw("UPDATE refresh_tokens SET revoked_at = \(bind: now) WHERE family_id = \(bind: family)").run()
                return .reused
            }
            let expiresAt = token.expiresAt
            guard expiresAt > now, let user = try await sql.raw("SELECT * FROM users WHERE id = \(bind: userID)").first()?.decode(User.self)
            else { return .invalid }
            let next = Self.newRefreshSecret()
            try await Self.insertRefreshToken(next, userID: userID, family: family, now: now, expiresAt: expiresAt, sql: sql)
            return .rotated(user: user, refreshToken: next)
        }
    }

    /// Revokes the family of `secret` (logout); unknown tokens are ignored.
    public func revokeFamily(of secret: String, now: Int64 = StoreTime.now()) async throws {
        let hash = APIKeySecret.hash(secret)
        try await transaction { sql in
            guard let row = try await sql.raw("SELECT family_id FROM refresh_tokens WHERE token_hash = \(bind: hash)").first() else {
                return
            }
            let family = try row.decode(column: "family_id", as: String.self)
            try await sql.raw(
                "UPDATE refresh_tokens SET revoked_at = \(bind: now) WHERE family_id = \(bind: family) AND revoked_at IS NULL"
            ).run()
        }
    }

    /// A token as stored (its hash is what it was found by).
    private struct Stored: Decodable {
        var id: String
        var familyID: String
        var userID: String
        var expiresAt: Int64
        var revokedAt: Int64?
    }

    private static func newRefreshSecret() -> String {
        refreshMarker + String(APIKeySecret.generate().dropFirst(APIKeySecret.marker.count))
    }

    /// Deletes the tokens that expired before `cutoff`; whole families go at once, since a family's
    /// tokens share one expiry.
    public func prune(expiredBefore cutoff: Int64) async throws {
        try await read { sql in try await sql.raw("DELETE FROM refresh_tokens WHERE expires_at < \(bind: cutoff)").run() }
    }

    private static func insertRefreshToken(
        _ secret: String, userID: String, family: String, now: Int64, expiresAt: Int64, sql: any SQLDatabase
    ) async throws {
        try await sql.raw(
            """
            INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, created_at, expires_at)
            VALUES (\(bind: randomIdentifier()), \(bind: family), \(bind: userID), \(bind: APIKeySecret.hash(secret)),
                    \(bind: now), \(bind: expiresAt))
            """
        ).run()
    }
}

extension Database {
    public var refreshTokens: RefreshTokensRepository { RefreshTokensRepository(database: self) }
}
