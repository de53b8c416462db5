import Foundation
import SQLKit

/// A conversation with a project's agents: its turns, the agent that answered last, and the agents'
/// versions it started with. Times are milliseconds since 1970.
public struct AgentSession: Sendable, Equatable, Decodable {
    public var id: String
    public var teamID: String
    public var projectID: String
    public var title: String
    /// What a turn asked for while another runs gets: `reject` (409) or `enqueue` (it waits its turn).
    public var concurrency: String
    /// `open` or `ended`.
    public var status: String
    /// The agent that answered the last turn: the router's sticky choice.
    public var activeAgent: String?
    /// JSON: agent → the version the session runs.
    public var pinned: String
    public var createdAt: Int64
    public var endedAt: Int64?

    static let columns: SQLQueryString = "id, team_id, project_id, title, concurrency, status, active_agent, pinned, created_at, ended_at"

    public var pinnedVersions: [String: Int64] { (try? JSONDecoder().decode([String: Int64].self, from: Data(pinned.utf8))) ?? [:] }
}

/// One request of a session and its answer: the input, the routing decision, the agent and version that
/// answered, the output, its tokens and cost.
public struct Turn: Sendable, Equatable, Decodable {
    public var id: String
    public var sessionID: String
    public var teamID: String
    /// 1, 2, 3… in the order the session took them.
    public var seq: Int64
    /// `queued`, `running`, `completed`, `failed` or `cancelled`.
    public var status: String
    public var input: String
    public var agent: String?
    public var agentVersion: Int64?
    /// JSON: the router's decision.
    public var routing: String
    public var output: String
    public var promptTokens: Int64?
    public var completionTokens: Int64?
    public var costUSD: Double?
    public var error: String?
    public var idempotencyKey: String?
    public var createdAt: Int64
    public var startedAt: Int64?
    public var finishedAt: Int64?

    static let columns: SQLQueryString = """
        id, session_id, team_id, seq, status, input, agent, agent_version, routing, output, prompt_tokens, completion_tokens, cost_usd, error,
        idempotency_key, created_at, started_at, finished_at
        """

    public var isFinished: Bool { ["completed", "failed", "cancelled"].contains(status) }
}

/// A turn to start.
public struct NewTurn: Sendable {
    public var input: String
    public var agent: String?
    public var agentVersion: Int64?
    public var routing: String
    public var idempotencyKey: String?

    public init(input: String, agent: String?, agentVersion: Int64?, routing: String, idempotencyKey: String?) {
        self.input = input
        self.agent = agent
        self.agentVersion = agentVersion
        self.routing = routing
        self.idempotencyKey = idempotencyKey
    }
}

/// What asking a session for a turn came to.
public enum TurnStart: Sendable, Equatable {
    case started(Turn)
    /// Waiting behind the running turn, `position` in the queue (1: next).
    case queued(Turn, position: Int)
    /// Another turn runs and the session rejects a second.
    case busy(activeTurn: String?)
    /// The same `Idempotency-Key` made this turn before.
    case replayed(Turn)
    case ended
}

public struct AgentSessionsRepository: Repository {
    let database: Database

    public static let maximumQueued = 20
    /// Milliseconds after which a queued turn whose waiter has not been heard of (`heartbeat`) is abandoned.
    public static let abandonedAfter: Int64 = 30_000

    public func create(
        projectID: String, teamID: String, title: String, concurrency: String, pinned: [String: Int64],
        event: @escaping @Sendable (_ id: String) -> NewEvent, now: Int64 = StoreTime.now()
    ) async throws -> AgentSession {
        let id = randomIdentifier()
        let pinnedJSON = String(decoding: try JSONEncoder().encode(pinned), as: UTF8.self)
        let events = database.events
        return try await transaction { sql in
            try await sql.raw(
                """
                INSERT INTO agent_sessions (id, team_id, project_id, title, concurrency, status, pinned, created_at)
                VALUES (\(bind: id), \(bind: teamID), \(bind: projectID), \(bind: title), \(bind: concurrency), 'open', \(bind: pinnedJSON), \(bind: now))
                """
            ).run()
            try await events.insert(event(id), teamID: teamID, now: now, in: sql)
            guard let session = try await Self.fetch(id, teamID: teamID, in: sql) else { throw StoreError.notFound("session \(id)") }
            return session
        }
    }

    private static func fetch(_ id: String, teamID: String, in sql: any SQLDatabase) async throws -> AgentSession? {
        try await sql.raw("SELECT \(AgentSession.columns) FROM agent_sessions WHERE id = \(bind: id) AND team_id = \(bind: teamID)")
            .first()?
            .decode(AgentSession.self)
    }

    public func find(_ id: String, teamID: String) async throws -> AgentSession? {
        try await read { sql in try await Self.fetch(id, teamID: teamID, in: sql) }
    }

    /// The project's sessions, newest first.
    public func list(projectID: String, teamID: String, limit: Int) async throws -> [AgentSession] {
        try await read { sql in
            try await sql.raw(
                """
                SELECT \(AgentSession.columns) FROM agent_sessions WHERE project_id = \(bind: projectID) AND team_id = \(bind: teamID)
                ORDER BY created_at DESC, id DESC LIMIT \(bind: limit)
                """
            ).all().map { try $0.decode(AgentSession.self) }
        }
    }

    /// Ends the session, cancelling its queued turns (each with `cancelled`'s event); false when it had ended already.
    public func end(
        _ id: String, teamID: String, event: NewEvent, cancelled: @escaping @Sendable (Turn) -> NewEvent, now: Int64 = StoreTime.now()
    ) async throws -> Bool {
        let events = database.events
        return try await transaction { sql in
            guard
                try await sql.raw(
                    """
                    UPDATE agent_sessions SET status = 'ended', ended_at = \(bind: now)
                    WHERE id = \(bind: id) AND team_id = \(bind: teamID) AND status = 'open' RETURNING id
                    """
                ).first() != nil
            else { return false }
            let queued = try await sql.raw(
                "UPDATE turns SET status = 'cancelled', finished_at = \(bind: now) WHERE session_id = \(bind: id) AND status = 'queued' RETURNING id"
            ).all().map { try $0.decode(column: "id", as: String.self) }
            for turnID in queued {
                if let turn = try await Self.turn(turnID, in: sql) {
                    try await events.insert(cancelled(turn), teamID: teamID, now: now, in: sql)
                }
            }
            try await events.insert(event, teamID: teamID, now: now, in: sql)
            return true
        }
    }

    /// Starts a turn, or queues it behind the running one (`enqueue`), or reports the running one (`reject`).
    /// A running turn older than `staleAfter` milliseconds (its node stopped mid-turn) is failed first, so
    /// that a session is never held by a turn nobody runs.
    public func start(
        _ new: NewTurn, in session: AgentSession, enqueue: Bool, staleAfter: Int64,
        events: @escaping @Sendable (_ turn: Turn, _ position: Int) -> [NewEvent], abandoned: @escaping @Sendable (Turn) -> NewEvent,
        now: Int64 = StoreTime.now()
    ) async throws -> TurnStart {
        let store = database
        let lock = store.dialect == .postgres ? "FOR UPDATE" : ""
        return try await transaction { sql in
            // The session's row, taken first: a session's turns are numbered and started one at a time.
            guard
                let status = try await sql.raw(
                    "SELECT status FROM agent_sessions WHERE id = \(bind: session.id) \(unsafeRaw: lock)"
                ).first()?.decode(column: "status", as: String.self)
            else { throw StoreError.notFound("session \(session.id)") }
            if let key = new.idempotencyKey,
                let earlier = try await sql.raw(
                    "SELECT \(Turn.columns) FROM turns WHERE session_id = \(bind: session.id) AND idempotency_key = \(bind: key)"
                ).first()?.decode(Turn.self)
            {
                return .replayed(earlier)
            }
            guard status == "open" else { return .ended }
            try await Self.sweep(session.id, staleAfter: staleAfter, abandoned: abandoned, now: now, store: store, in: sql)
            let running = try await sql.raw(
                "SELECT id FROM turns WHERE session_id = \(bind: session.id) AND status = 'running'"
            ).first()?.decode(column: "id", as: String.self)
            let queued =
                try await sql.raw("SELECT COUNT(*) AS n FROM turns WHERE session_id = \(bind: session.id) AND status = 'queued'").first()?
                .decode(column: "n", as: Int.self) ?? 0
            let busy = running != nil || queued > 0
            if busy, !enqueue { return .busy(activeTurn: running) }
            guard queued < Self.maximumQueued else {
                throw StoreError.conflict("the session has \(Self.maximumQueued) turns queued; wait for them")
            }
            let seq =
                (try await sql.raw("SELECT MAX(seq) AS seq FROM turns WHERE session_id = \(bind: session.id)").first()?
                    .decode(column: "seq", as: Int64?.self) ?? 0) + 1
            let id = randomIdentifier()
            let state = busy ? "queued" : "running"
            let started: Int64? = busy ? nil : now
            try await sql.raw(
                """
                INSERT INTO turns (id, session_id, team_id, seq, status, input, agent, agent_version, routing, output, idempotency_key, created_at,
                    started_at)
                VALUES (\(bind: id), \(bind: session.id), \(bind: session.teamID), \(bind: seq), \(bind: state), \(bind: new.input), \(bind: new.agent),
                    \(bind: new.agentVersion), \(bind: new.routing), '', \(bind: new.idempotencyKey), \(bind: now), \(bind: started))
                """
            ).run()
            guard let turn = try await Self.turn(id, in: sql) else { throw StoreError.notFound("turn \(id)") }
            for event in events(turn, busy ? queued + 1 : 0) {
                try await store.events.insert(event, teamID: session.teamID, now: now, in: sql)
            }
            return busy ? .queued(turn, position: queued + 1) : .started(turn)
        }
    }

    /// Starts a queued turn once it is the session's next and none runs; nil while it must wait, the turn
    /// as it is when it no longer waits (cancelled, or the session ended).
    public func claim(
        _ turn: Turn, staleAfter: Int64, events: @escaping @Sendable (_ turn: Turn) -> [NewEvent],
        abandoned: @escaping @Sendable (Turn) -> NewEvent, now: Int64 = StoreTime.now()
    ) async throws -> Turn? {
        let store = database
        let lock = store.dialect == .postgres ? "FOR UPDATE" : ""
        // Read first: a waiter that is not next, behind a turn that is not stale, leaves the one writer alone.
        let ahead = try await read { sql in
            try await sql.raw(
                """
                SELECT id FROM turns WHERE session_id = \(bind: turn.sessionID)
                AND ((status = 'running' AND started_at >= \(bind: now - staleAfter))
                    OR (status = 'queued' AND seq < \(bind: turn.seq) AND COALESCE(seen_at, created_at) >= \(bind: now - Self.abandonedAfter)))
                LIMIT 1
                """
            ).first()
        }
        if ahead != nil { return nil }
        return try await transaction { sql in
            _ = try await sql.raw("SELECT id FROM agent_sessions WHERE id = \(bind: turn.sessionID) \(unsafeRaw: lock)").run()
            try await Self.sweep(turn.sessionID, staleAfter: staleAfter, abandoned: abandoned, now: now, store: store, in: sql)
            guard let current = try await Self.turn(turn.id, in: sql) else { throw StoreError.notFound("turn \(turn.id)") }
            guard current.status == "queued" else { return current }
            let ahead = try await sql.raw(
                """
                SELECT id FROM turns WHERE session_id = \(bind: turn.sessionID)
                AND (status = 'running' OR (status = 'queued' AND seq < \(bind: turn.seq))) LIMIT 1
                """
            ).first()
            guard ahead == nil else { return nil }
            try await sql.raw("UPDATE turns SET status = 'running', started_at = \(bind: now) WHERE id = \(bind: turn.id)").run()
            guard let started = try await Self.turn(turn.id, in: sql) else { throw StoreError.notFound("turn \(turn.id)") }
            for event in events(started) { try await store.events.insert(event, teamID: turn.teamID, now: now, in: sql) }
            return started
        }
    }

    /// Records how a running (or queued) turn ended, with its event, and makes its agent the session's
    /// active one when it answered; nil when it had ended already.
    public func finish(
        _ id: String, as status: String, from states: [String] = ["queued", "running"], output: String, promptTokens: Int?,
        completionTokens: Int?, costUSD: Double?, error: String?, event: @escaping @Sendable (_ turn: Turn) -> NewEvent,
        now: Int64 = StoreTime.now()
    ) async throws -> Turn? {
        let events = database.events
        let lock = database.dialect == .postgres ? "FOR UPDATE" : ""
        let allowed = states.filter { ["queued", "running"].contains($0) }.map { "'\($0)'" }.joined(separator: ", ")
        guard !allowed.isEmpty else { return nil }
        return try await transaction { sql in
            // The session's row first, as `start` and `claim` take it: one order of locks, no deadlock.
            _ = try await sql.raw(
                "SELECT id FROM agent_sessions WHERE id = (SELECT session_id FROM turns WHERE id = \(bind: id)) \(unsafeRaw: lock)"
            ).run()
            guard
                try await sql.raw(
                    """
                    UPDATE turns SET status = \(bind: status), output = \(bind: output), prompt_tokens = \(bind: promptTokens.map(Int64.init)),
                        completion_tokens = \(bind: completionTokens.map(Int64.init)), cost_usd = \(bind: costUSD), error = \(bind: error),
                        finished_at = \(bind: now)
                    WHERE id = \(bind: id) AND status IN (\(unsafeRaw: allowed)) RETURNING id
                    """
                ).first() != nil,
                let turn = try await Self.turn(id, in: sql)
            else { return nil }
            if status == "completed", let agent = turn.agent {
                try await sql.raw("UPDATE agent_sessions SET active_agent = \(bind: agent) WHERE id = \(bind: turn.sessionID)").run()
            }
            try await events.insert(event(turn), teamID: turn.teamID, now: now, in: sql)
            return turn
        }
    }

    /// Fails a running turn older than `staleAfter` (its node stopped mid-turn) and cancels queued turns older
    /// than the longest a queue can take (their waiters are gone), each with its event: a session is never held
    /// by a turn nobody runs.
    private static func sweep(
        _ sessionID: String, staleAfter: Int64, abandoned: @Sendable (Turn) -> NewEvent, now: Int64, store: Database,
        in sql: any SQLDatabase
    ) async throws {
        let left = try await sql.raw(
            """
            SELECT id, status FROM turns WHERE session_id = \(bind: sessionID)
            AND ((status = 'running' AND started_at < \(bind: now - staleAfter))
                OR (status = 'queued' AND COALESCE(seen_at, created_at) < \(bind: now - Self.abandonedAfter)))
            """
        ).all().map { (try $0.decode(column: "id", as: String.self), try $0.decode(column: "status", as: String.self)) }
        for (id, status) in left {
            let ending = status == "running" ? "failed" : "cancelled"
            let error: String? = status == "running" ? "interrupted: the node running it stopped" : nil
            try await sql.raw(
                "UPDATE turns SET status = \(bind: ending), error = \(bind: error), finished_at = \(bind: now) WHERE id = \(bind: id)"
            ).run()
            if let turn = try await Self.turn(id, in: sql) {
                try await store.events.insert(abandoned(turn), teamID: turn.teamID, now: now, in: sql)
            }
        }
    }

    /// The session's turn made with `key`.
    public func turn(idempotencyKey key: String, sessionID: String, teamID: String) async throws -> Turn? {
        try await read { sql in
            try await sql.raw(
                """
                SELECT \(Turn.columns) FROM turns
                WHERE session_id = \(bind: sessionID) AND team_id = \(bind: teamID) AND idempotency_key = \(bind: key)
                """
            ).first()?.decode(Turn.self)
        }
    }

    /// The session's running and queued turns, in order.
    public func unfinished(of sessionID: String, teamID: String) async throws -> [Turn] {
        try await read { sql in
            try await sql.raw(
                """
                SELECT \(Turn.columns) FROM turns WHERE session_id = \(bind: sessionID) AND team_id = \(bind: teamID)
                AND status IN ('queued', 'running') ORDER BY seq
                """
            ).all().map { try $0.decode(Turn.self) }
        }
    }

    private static func turn(_ id: String, in sql: any SQLDatabase) async throws -> Turn? {
        try await sql.raw("SELECT \(Turn.columns) FROM turns WHERE id = \(bind: id)").first()?.decode(Turn.self)
    }

    /// A queued turn's waiter is still there.
    public func heartbeat(_ turnID: String, now: Int64 = StoreTime.now()) async throws {
        try await transaction { sql in
            try await sql.raw("UPDATE turns SET seen_at = \(bind: now) WHERE id = \(bind: turnID) AND status = 'queued'").run()
        }
    }

    /// Sweeps every session with a turn that may be left (`sweep`): what a stopped node left behind is settled
    /// even where nobody asks that session for another turn.
    public func sweepAll(staleAfter: Int64, abandoned: @escaping @Sendable (Turn) -> NewEvent, now: Int64 = StoreTime.now()) async throws {
        let sessions = try await read { sql in
            try await sql.raw(
                """
                SELECT DISTINCT session_id FROM turns
                WHERE (status = 'running' AND started_at < \(bind: now - staleAfter))
                    OR (status = 'queued' AND COALESCE(seen_at, created_at) < \(bind: now - Self.abandonedAfter))
                """
            ).all().map { try $0.decode(column: "session_id", as: String.self) }
        }
        let store = database
        let lock = store.dialect == .postgres ? "FOR UPDATE" : ""
        for session in sessions {
            try await transaction { sql in
                _ = try await sql.raw("SELECT id FROM agent_sessions WHERE id = \(bind: session) \(unsafeRaw: lock)").run()
                try await Self.sweep(session, staleAfter: staleAfter, abandoned: abandoned, now: now, store: store, in: sql)
            }
        }
    }

    /// The team's turn, whatever its session.
    public func turn(_ id: String, teamID: String) async throws -> Turn? {
        try await read { sql in
            try await sql.raw("SELECT \(Turn.columns) FROM turns WHERE id = \(bind: id) AND team_id = \(bind: teamID)").first()?.decode(
                Turn.self)
        }
    }

    public func turn(_ id: String, sessionID: String, teamID: String) async throws -> Turn? {
        try await read { sql in
            try await sql.raw(
                """
                SELECT \(Turn.columns) FROM turns WHERE id = \(bind: id) AND session_id = \(bind: sessionID) AND team_id = \(bind: teamID)
                """
            ).first()?.decode(Turn.self)
        }
    }

    /// The session's turns in order; the last `limit` of those that finished when `finishedOnly`.
    public func turns(of sessionID: String, teamID: String, finishedOnly: Bool = false, limit: Int = 1000) async throws -> [Turn] {
        try await read { sql in
            let filter: SQLQueryString = finishedOnly ? "AND status = 'completed'" : ""
            return try await sql.raw(
                """
                SELECT \(Turn.columns) FROM turns WHERE session_id = \(bind: sessionID) AND team_id = \(bind: teamID) \(filter)
                ORDER BY seq DESC LIMIT \(bind: limit)
                """
            ).all().map { try $0.decode(Turn.self) }.reversed()
        }
    }
}

extension Database {
    /// The projects' sessions with their agents, and their turns.
    public var agentSessions: AgentSessionsRepository { AgentSessionsRepository(database: self) }
}
