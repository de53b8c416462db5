import SQLKit

/// Who a WebSocket ticket was issued to, as authenticating them needs it: the key or the user, with the
/// team's limits.
public enum TicketHolder: Sendable {
    case key(APIKey, teamLimits: Limits)
    case user(User, teamLimits: Limits)
}

/// A ticket found by its secret: unexpired and unused when it was read.
public struct WebSocketTicket: Sendable {
    public var id: String
    public var holder: TicketHolder
}

/// Tickets for opening a WebSocket from a browser, which cannot put an `Authorization` header on one:
/// short-lived, single-use, stored as a SHA-256, and bound to the key or user that asked for it, so a
/// ticket is worth no more than its holder's credentials (a revoked key's tickets stop working with it).
public struct WebSocketTicketsRepository: Repository {
    let database: Database
    static let marker = "cdw_"

    /// A new ticket for the caller (a key, or a user), valid for `lifetime`; its secret and expiry.
    public func issue(teamID: String, keyID: String?, userID: String?, lifetime: Duration) async throws -> (
        ticket: String, expiresAt: Int64
    ) {
        let ticket = Self.marker + String(APIKeySecret.generate().dropFirst(APIKeySecret.marker.count))
        let now = StoreTime.now()
        let expiresAt = now + StoreTime.span(lifetime)
        try await read { sql in
            try await sql.raw(
                """
                INSERT INTO ws_tickets (id, team_id, key_id, user_id, ticket_hash, created_at, expires_at)
                VALUES (\(bind: randomIdentifier()), \(bind: teamID), \(bind: keyID), \(bind: userID),
                        \(bind: APIKeySecret.hash(ticket)), \(bind: now), \(bind: expiresAt))
                """
            ).run()
        }
        return (ticket, expiresAt)
    }

    /// The ticket of `secret` with its holder, if it is unexpired and unused; it stays unused until `redeem`.
    public func find(secret: String, now: Int64 = StoreTime.now()) async throws -> WebSocketTicket? {
        guard secret.hasPrefix(Self.marker), secret.utf8.count < 200 else { return nil }
        let hash = APIKeySecret.hash(secret)
        return try await read { sql -> WebSocketTicket? in
            guard
                let row = try await sql.raw(
                    """
                    SELECT id, key_id, user_id FROM ws_tickets
                    WHERE ticket_hash = \(bind: hash) AND used_at IS NULL AND expires_at > \(bind: now)
                    """
                ).first()
            else { return nil }
            let id = try row.decode(column: "id", as: String.self)
            if let keyID = try row.decode(column: "key_id", as: String?.self) {
                guard
                    let key = try await sql.raw(
                        "SELECT k.*, \(Limits.teamColumns) FROM api_keys k JOIN teams t ON t.id = k.team_id WHERE k.id = \(bind: keyID)"
                    ).first()
                else { return nil }
                return WebSocketTicket(id: id, holder: .key(try APIKey(row: key), teamLimits: try key.decode(Limits.self, prefix: "team_")))
            }
            guard let userID = try row.decode(column: "user_id", as: String?.self),
                let user = try await sql.raw(
                    "SELECT u.*, \(Limits.teamColumns) FROM users u JOIN teams t ON t.id = u.team_id WHERE u.id = \(bind: userID)"
                ).first()
            else { return nil }
            return WebSocketTicket(
                id: id, holder: .user(try user.decode(User.self), teamLimits: try user.decode(Limits.self, prefix: "team_")))
        }
    }

    /// Spends the ticket: true for the one use that does, false for every later one (or once it expired).
    public func redeem(id: String, now: Int64 = StoreTime.now()) async throws -> Bool {
        try await read { sql in
            try await sql.raw(
                "UPDATE ws_tickets SET used_at = \(bind: now) WHERE id = \(bind: id) AND used_at IS NULL AND expires_at > \(bind: now) RETURNING id"
            ).first() != nil
        }
    }

    /// Deletes the tickets that expired before `cutoff`, used or not.
    public func prune(expiredBefore cutoff: Int64) async throws {
        try await read { sql in try await sql.raw("DELETE FROM ws_tickets WHERE expires_at < \(bind: cutoff)").run() }
    }
}

extension Database {
    public var webSocketTickets: WebSocketTicketsRepository { WebSocketTicketsRepository(database: self) }
}
