import Foundation
import SQLKit

/// Something that happened to a team's objects (`insight.created`, `job.completed`), kept in the outbox
/// for the event history, live streams and webhooks to deliver. Times are milliseconds since 1970.
public struct Event: Sendable, Equatable, Decodable {
    public var id: String
    public var teamID: String
    /// The team's count of its events when this one was recorded: 1, 2, 3… in the order they were
    /// committed, so that a reader that saw `sequence` resumes after it, missing and repeating nothing.
    public var sequence: Int64
    public var topic: String
    /// What the event is about, as `kind:id` (`job:…`, `conversation:…`), when it is about one thing.
    public var resource: String?
    /// JSON object.
    public var payload: String
    public var createdAt: Int64
    /// Who caused it (`EventActor`): `key:ID`, `user:ID`, `cli`; nil for the server's own work.
    public var actor: String?

    static let columns = "id, team_id, seq AS sequence, topic, resource, payload, created_at, actor"
}

/// What an event of one type says: its payload, typed. The catalogue of every type (their names,
/// who may read them, an example each) is made of these, and `docs/events.md` is written from it.
public protocol EventPayload: Encodable, Sendable {
    /// The event's type, `noun.verb_in_past_tense`.
    static var type: String { get }
    /// What happened, in a sentence.
    static var summary: String { get }
    /// The scope a key needs to read events of this type.
    static var scope: Scope { get }
    static var example: Self { get }
    /// What the event is about, as `kind:id`; nil when it is about no one thing.
    var resource: String? { get }
}

/// An event to record with the change it announces.
public struct NewEvent: Sendable, Equatable {
    public var topic: String
    public var payload: String
    public var resource: String?
    /// The W3C `traceparent` of the work that caused it: its webhook deliveries join that trace.
    public var traceContext: String?
    /// Who caused it: the task's `EventActor` when the event was made.
    public var actor: String?

    public init(topic: String, payload: String, resource: String? = nil, traceContext: String? = nil) {
        self.topic = topic
        self.payload = payload
        self.resource = resource
        self.traceContext = traceContext
        actor = EventActor.current
    }

    /// `payload` as the event of its type, its keys in snake case.
    public init(_ payload: some EventPayload, traceContext: String? = nil) {
        // A payload is strings, numbers and lists of them: encoding it cannot fail.
        let json = (try? wireJSON(payload)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        self.init(topic: type(of: payload).type, payload: json, resource: payload.resource, traceContext: traceContext)
    }
}

/// Which of a team's events to read: those after a sequence number, of some types, about one resource.
public struct EventFilter: Sendable, Equatable {
    public var types: Set<String>?
    public var resource: String?
    public var actor: String?

    public init(types: Set<String>? = nil, resource: String? = nil, actor: String? = nil) {
        self.types = types
        self.resource = resource
        self.actor = actor
    }

    public func admits(_ event: Event) -> Bool {
        (types?.contains(event.topic) ?? true) && (resource.map { $0 == event.resource } ?? true)
            && (actor.map { $0 == event.actor } ?? true)
    }
}

public struct EventsRepository: Repository {
    let database: Database

    /// The PostgreSQL channel a recorded event is announced on (with its team's id), when its
    /// transaction commits: every node's live streams wake at once.
    public static let notificationChannel = "conduit_events"

    /// Records an event in the caller's transaction, numbered next in its team's sequence, with a
    /// delivery (and the job that sends it) for each of the team's webhooks that asked for its topic:
    /// the event and its deliveries exist exactly when the change they announce does.
    ///
    /// The sequence's row stays locked until the transaction ends, so a team's events commit in the
    /// order of their numbers, with none missing: a reader never sees number 7 before number 6 (a
    /// rolled-back event gives its number back with the rollback).
    func insert(_ event: NewEvent, teamID: String, now: Int64, in sql: any SQLDatabase) async throws {
        let id = randomIdentifier()
        guard
            let sequence = try await sql.raw(
                """
                INSERT INTO event_sequences (team_id, last_seq) VALUES (\(bind: teamID), 1)
                ON CONFLICT (team_id) DO UPDATE SET last_seq = event_sequences.last_seq + 1 RETURNING last_seq
                """
            ).first()?.decode(column: "last_seq", as: Int64.self)
        else { throw StoreError.notFound("the event sequence of team \(teamID)") }
        try await sql.raw(
            """
            INSERT INTO events (id, team_id, seq, topic, resource, payload, created_at, actor)
            VALUES (\(bind: id), \(bind: teamID), \(bind: sequence), \(bind: event.topic), \(bind: event.resource), \(bind: event.payload),
                    \(bind: now), \(bind: event.actor))
            """
        ).run()
        if database.dialect == .postgres {
            try await sql.raw("SELECT pg_notify(\(bind: Self.notificationChannel), \(bind: teamID))").run()
        } else {
            CommittedEvents.note(teamID)
        }
        let webhooks = try await sql.raw("SELECT id, topics FROM webhooks WHERE team_id = \(bind: teamID)").all()
        for row in webhooks {
            let topics = try Webhook.topics(fromJSON: row.decode(column: "topics", as: String.self))
            guard topics.isEmpty || topics.contains(event.topic) else { continue }
            try await database.webhooks.insertDelivery(
                webhookID: row.decode(column: "id", as: String.self), eventID: id, topic: event.topic, teamID: teamID,
                traceContext: event.traceContext, now: now, in: sql)
        }
    }

    /// Records `event` in every team's log, in one transaction: news of the node, which serves them all.
    public func recordForEveryTeam(_ event: NewEvent, now: Int64 = StoreTime.now()) async throws {
        try await database.transaction { sql in
            let teams = try await sql.raw("SELECT id FROM teams ORDER BY id").all().map { try $0.decode(column: "id", as: String.self) }
            for team in teams { try await insert(event, teamID: team, now: now, in: sql) }
        }
    }

    /// A team's events numbered after `after`, oldest first, that `filter` admits.
    public func list(teamID: String, after: Int64 = 0, filter: EventFilter = EventFilter(), limit: Int = 100) async throws -> [Event] {
        try await read { sql in
            var condition: SQLQueryString = "team_id = \(bind: teamID) AND seq > \(bind: after)"
            if let types = filter.types {
                guard !types.isEmpty else { return [] }
                condition = "\(condition) AND topic IN (\(binds: types.sorted()))"
            }
            if let resource = filter.resource { condition = "\(condition) AND resource = \(bind: resource)" }
            if let actor = filter.actor { condition = "\(condition) AND actor = \(bind: actor)" }
            return try await sql.raw(
                "SELECT \(unsafeRaw: Event.columns) FROM events WHERE \(condition) ORDER BY seq LIMIT \(bind: limit)"
            ).all().map { try $0.decode(Event.self) }
        }
    }

    /// Calls `recorded` with a team's id whenever an event of the team's is committed, until cancelled: on
    /// PostgreSQL by any node (LISTEN on ``notificationChannel``); on SQLite by this process (another
    /// process writing to the same file is seen only by polling).
    public func watch(_ recorded: @escaping @Sendable (_ teamID: String) -> Void) async {
        switch database.backend {
        case .postgres(let pool): await pool.listen(Self.notificationChannel, received: recorded)
        case .sqlite: await database.committedEvents.listen(recorded)
        }
    }

    /// The number of the team's oldest event still kept (older ones were deleted with age), nil when none is.
    public func earliestSequence(teamID: String) async throws -> Int64? {
        try await read { sql in
            try await sql.raw("SELECT MIN(seq) AS earliest FROM events WHERE team_id = \(bind: teamID)").first()?
                .decode(column: "earliest", as: Int64?.self)
        }
    }

    /// The number of each team's latest event, for the teams that have recorded one.
    public func latestSequences(of teamIDs: [String]) async throws -> [String: Int64] {
        guard !teamIDs.isEmpty else { return [:] }
        return try await read { sql in
            var latest: [String: Int64] = [:]
            for row in try await sql.raw(
                "SELECT team_id, last_seq FROM event_sequences WHERE team_id IN (\(binds: teamIDs))"
            ).all() {
                latest[try row.decode(column: "team_id", as: String.self)] = try row.decode(column: "last_seq", as: Int64.self)
            }
            return latest
        }
    }

    /// Deletes events recorded before `cutoff` (milliseconds since 1970), and their webhook deliveries.
    /// The sequences stay: numbers are never given twice.
    public func prune(before cutoff: Int64) async throws {
        try await transaction { sql in
            try await sql.raw("DELETE FROM webhook_deliveries WHERE created_at < \(bind: cutoff)").run()
            try await sql.raw("DELETE FROM events WHERE created_at < \(bind: cutoff)").run()
        }
    }
}

extension Database {
    /// The outbox: events recorded with the changes they announce.
    public var events: EventsRepository { EventsRepository(database: self) }
}
