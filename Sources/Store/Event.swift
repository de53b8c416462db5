import Foundation
import SQLKit

/// Something that happened to a team's objects (`insight.created`, `conversation.skipped`), kept in the
/// outbox for streams and webhooks to deliver. Times are milliseconds since 1970.
public struct Event: Sendable, Equatable, Decodable {
    public var id: String
    public var teamID: String
    public var topic: String
    /// JSON object.
    public var payload: String
    public var createdAt: Int64
}

/// An event to record with the change it announces.
public struct NewEvent: Sendable, Equatable {
    public var topic: String
    public var payload: String
    /// The W3C `traceparent` of the work that caused it: its webhook deliveries join that trace.
    public var traceContext: String?

    public init(topic: String, payload: String, traceContext: String? = nil) {
        self.topic = topic
        self.payload = payload
        self.traceContext = traceContext
    }
}

public struct EventsRepository: Repository {
    let database: Database
    /// Records an event in the caller's transaction, with a delivery (and the job that sends it) for
    /// each of the team's webhooks that asked for its topic: the event and its deliveries exist exactly
    /// when the change they announce does.
    func insert(_ event: NewEvent, teamID: String, now: Int64, in sql: any SQLDatabase) async throws {
        let id = randomIdentifier()
        try await sql.raw(
            """
            INSERT INTO events (id, team_id, topic, payload, created_at)
            VALUES (\(bind: id), \(bind: teamID), \(bind: event.topic), \(bind: event.payload), \(bind: now))
            """
        ).run()
        let webhooks = try await sql.raw("SELECT id, topics FROM webhooks WHERE team_id = \(bind: teamID)").all()
        for row in webhooks {
            let topics = try Webhook.topics(fromJSON: row.decode(column: "topics", as: String.self))
            guard topics.isEmpty || topics.contains(event.topic) else { continue }
            try await database.webhooks.insertDelivery(
                webhookID: row.decode(column: "id", as: String.self), eventID: id, topic: event.topic, teamID: teamID,
                traceContext: event.traceContext, now: now, in: sql)
        }
    }

    /// A team's events, oldest first, optionally of one topic.
    public func list(teamID: String, topic: String? = nil, limit: Int = 100) async throws -> [Event] {
        try await read { sql in
            var filter: SQLQueryString = "team_id = \(bind: teamID)"
            if let topic { filter = "\(filter) AND topic = \(bind: topic)" }
            return try await sql.raw(
                "SELECT id, team_id, topic, payload, created_at FROM events WHERE \(filter) ORDER BY created_at, id LIMIT \(bind: limit)"
            ).all().map { try $0.decode(Event.self) }
        }
    }

    /// Deletes events recorded before `cutoff` (milliseconds since 1970), and their webhook deliveries.
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
