import SQLKit

/// Tells the other nodes who views what on this one: on PostgreSQL a notification every node listens to
/// (``channel``); on SQLite there is one node, and nothing to tell.
public struct PresenceNotices: Repository {
    let database: Database

    public static let channel = "conduit_presence"

    /// Whether other nodes may be listening.
    public var isShared: Bool {
        if case .postgres = database.backend { return true }
        return false
    }

    /// Sends `notice` to every node that listens, this one included.
    public func send(_ notice: String) async throws {
        guard isShared else { return }
        try await read { sql in try await sql.raw("SELECT pg_notify(\(bind: Self.channel), \(bind: notice))").run() }
    }

    /// Calls `received` with each notice, until cancelled; on SQLite returns at once.
    public func listen(_ received: @escaping @Sendable (String) -> Void) async {
        guard case .postgres(let pool) = database.backend else { return }
        await pool.listen(Self.channel, received: received)
    }
}

extension Database {
    public var presenceNotices: PresenceNotices { PresenceNotices(database: self) }
}
