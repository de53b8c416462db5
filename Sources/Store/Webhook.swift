import Foundation
import SQLKit

/// An endpoint of a team's that receives the team's events, signed as the Standard Webhooks
/// specification says. Times are milliseconds since 1970.
public struct Webhook: Sendable, Equatable {
    public var id: String
    public var teamID: String
    public var url: String
    /// The topics it receives; empty: every topic.
    public var topics: [String]
    public var description: String
    public var createdAt: Int64
    /// The secrets that sign a delivery now: the current one, then the one it replaced while the
    /// rotation's overlap lasts. Shown to the team only when made.
    public var signingSecrets: [String]

    /// The job queue and kind of deliveries.
    public static let deliveryQueue = "webhooks"
    public static let deliveryKind = "webhook"
    /// Attempts of one delivery. With the job queue's backoff (one second, doubling, capped at an
    /// hour) the last comes about 70 minutes after the first; after it, `redeliver` sends it again.
    public static let deliveryAttempts = 12
    /// Webhooks a team may have: each event is sent to every one of them.
    public static let maximumPerTeam = 20

    static let columns: SQLQueryString =
        "id, team_id, url, topics, description, secret, previous_secret, previous_secret_expires_at, created_at"

    init(row: any SQLRow, now: Int64, sealer: SecretSealer) throws {
        id = try row.decode(column: "id", as: String.self)
        teamID = try row.decode(column: "team_id", as: String.self)
        url = try row.decode(column: "url", as: String.self)
        topics = try Self.topics(fromJSON: row.decode(column: "topics", as: String.self))
        description = try row.decode(column: "description", as: String.self)
        createdAt = try row.decode(column: "created_at", as: Int64.self)
        signingSecrets = [try sealer.open(row.decode(column: "secret", as: String.self))]
        if let previous = try row.decode(column: "previous_secret", as: String?.self),
            try row.decode(column: "previous_secret_expires_at", as: Int64?.self) ?? 0 > now
        {
            signingSecrets.append(try sealer.open(previous))
        }
    }

    static func topics(fromJSON json: String) throws -> [String] {
        try JSONDecoder().decode([String].self, from: Data(json.utf8))
    }

    /// A new signing secret: `whsec_` and 32 random bytes in base64, as Standard Webhooks libraries read it.
    static func newSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return "whsec_" + Data(bytes).base64EncodedString()
    }
}

/// Where a delivery stands: `pending` until its receiver answers 2xx (`succeeded`) or its last attempt
/// fails (`failed`); `cancelled` when its job was (through `/v1/jobs`).
public enum DeliveryStatus: String, Sendable, Codable {
    case pending, succeeded, failed, cancelled
}

/// One event sent to one webhook: the attempts of its job and how the last one went.
public struct WebhookDelivery: Sendable, Equatable {
    public var id: String
    public var webhookID: String
    public var teamID: String
    public var eventID: String
    public var topic: String
    public var jobID: String
    public var status: DeliveryStatus
    public var attempts: Int
    /// The receiver's HTTP status at the last attempt, if it answered.
    public var responseStatus: Int?
    public var lastError: String?
    public var createdAt: Int64
    public var updatedAt: Int64

    /// With the state of its job, which settles a delivery whose job ended without a word from the worker
    /// (discarded when its node died at its last attempt, or cancelled).
    static let columns: SQLQueryString = """
        id, webhook_id, team_id, event_id, topic, job_id, status, attempts, response_status, last_error, created_at, updated_at,
        (SELECT state FROM jobs WHERE jobs.id = webhook_deliveries.job_id) AS job_state
        """

    init(row: any SQLRow) throws {
        id = try row.decode(column: "id", as: String.self)
        webhookID = try row.decode(column: "webhook_id", as: String.self)
        teamID = try row.decode(column: "team_id", as: String.self)
        eventID = try row.decode(column: "event_id", as: String.self)
        topic = try row.decode(column: "topic", as: String.self)
        jobID = try row.decode(column: "job_id", as: String.self)
        status = DeliveryStatus(rawValue: try row.decode(column: "status", as: String.self)) ?? .pending
        if status == .pending {
            switch try row.decode(column: "job_state", as: String?.self).flatMap(JobState.init(rawValue:)) {
            case .discarded: status = .failed
            case .cancelled: status = .cancelled
            default: break
            }
        }
        attempts = try row.decode(column: "attempts", as: Int.self)
        responseStatus = try row.decode(column: "response_status", as: Int?.self)
        lastError = try row.decode(column: "last_error", as: String?.self)
        createdAt = try row.decode(column: "created_at", as: Int64.self)
        updatedAt = try row.decode(column: "updated_at", as: Int64.self)
    }
}

public struct WebhooksRepository: Repository {
    let database: Database
    /// Registers a webhook; returns it with its signing secret, which is shown this once.
    public func create(teamID: String, url: String, topics: [String], description: String, now: Int64 = StoreTime.now())
        async throws -> (webhook: Webhook, secret: String)
    {
        let id = randomIdentifier()
        let secret = Webhook.newSecret()
        let sealed = try database.secretSealer.seal(secret)
        let sealer = database.secretSealer
        let events = database.events
        let topicsJSON = String(decoding: try JSONEncoder().encode(topics), as: UTF8.self)
        let webhook = try await transaction { sql in
            let count =
                try await sql.raw("SELECT COUNT(*) AS n FROM webhooks WHERE team_id = \(bind: teamID)").first()?
                .decode(column: "n", as: Int.self) ?? 0
            guard count < Webhook.maximumPerTeam else {
                throw StoreError.conflict("a team has at most \(Webhook.maximumPerTeam) webhooks; delete one first")
            }
            // Before the webhook exists: it is not sent the news of its own making.
            try await events.insert(
                NewEvent(WebhookEvents.Created(webhookID: id, url: url, topics: topics)), teamID: teamID, now: now, in: sql)
            try await sql.raw(
                """
                INSERT INTO webhooks (id, team_id, url, topics, description, secret, created_at)
                VALUES (\(bind: id), \(bind: teamID), \(bind: url), \(bind: topicsJSON), \(bind: description), \(bind: sealed),
                        \(bind: now))
                """
            ).run()
            return try await Self.fetch(id, teamID: teamID, now: now, sealer: sealer, in: sql)
        }
        guard let webhook else { throw StoreError.notFound("webhook \(id)") }
        return (webhook, secret)
    }

    private static func fetch(_ id: String, teamID: String?, now: Int64, sealer: SecretSealer, in sql: any SQLDatabase) async throws
        -> Webhook?
    {
        var team: SQLQueryString = ""
        if let teamID { team = "AND team_id = \(bind: teamID)" }
        return try await sql.raw("SELECT \(Webhook.columns) FROM webhooks WHERE id = \(bind: id) \(team)").first()
            .map { try Webhook(row: $0, now: now, sealer: sealer) }
    }

    /// The webhook, if it exists and belongs to the team.
    public func find(_ id: String, teamID: String, now: Int64 = StoreTime.now()) async throws -> Webhook? {
        let sealer = database.secretSealer
        return try await read { sql in try await Self.fetch(id, teamID: teamID, now: now, sealer: sealer, in: sql) }
    }

    /// The team's webhooks, oldest first.
    public func list(teamID: String, now: Int64 = StoreTime.now()) async throws -> [Webhook] {
        let sealer = database.secretSealer
        return try await read { sql in
            try await sql.raw("SELECT \(Webhook.columns) FROM webhooks WHERE team_id = \(bind: teamID) ORDER BY created_at, id").all()
                .map { try Webhook(row: $0, now: now, sealer: sealer) }
        }
    }

    /// Deletes the webhook and its deliveries (their jobs then find nothing to send); false when the
    /// team has no such webhook.
    public func delete(_ id: String, teamID: String) async throws -> Bool {
        let events = database.events
        return try await transaction { sql in
            try await sql.raw("DELETE FROM webhook_deliveries WHERE webhook_id = \(bind: id) AND team_id = \(bind: teamID)").run()
            guard try await sql.raw("DELETE FROM webhooks WHERE id = \(bind: id) AND team_id = \(bind: teamID) RETURNING id").first() != nil
            else { return false }
            try await events.insert(NewEvent(WebhookEvents.Deleted(webhookID: id)), teamID: teamID, now: StoreTime.now(), in: sql)
            return true
        }
    }

    /// Gives the webhook a new secret, shown this once; the old one keeps signing deliveries (next to
    /// the new) for `overlap` milliseconds, so that the receiver can switch without refusing any. Nil
    /// when the team has no such webhook.
    public func rotateSecret(_ id: String, teamID: String, overlap: Int64, now: Int64 = StoreTime.now()) async throws -> String? {
        let secret = Webhook.newSecret()
        let sealed = try database.secretSealer.seal(secret)
        let events = database.events
        return try await transaction { sql in
            guard
                try await sql.raw(
                    """
                    UPDATE webhooks SET previous_secret = secret, previous_secret_expires_at = \(bind: now + overlap), secret = \(bind: sealed)
                    WHERE id = \(bind: id) AND team_id = \(bind: teamID) RETURNING id
                    """
                ).first() != nil
            else { return nil }
            try await events.insert(NewEvent(WebhookEvents.SecretRotated(webhookID: id)), teamID: teamID, now: now, in: sql)
            return secret
        }
    }

    /// Seals every webhook secret not sealed under the sealer's current key again under it (or, with no
    /// key, opens them back into clear), and drops replaced secrets past their overlap: what a key rotation
    /// ends with. Returns how many webhooks changed.
    /// Each row is rewritten only if it still holds what was read, so a rotation racing with it is kept.
    public func reseal(now: Int64 = StoreTime.now()) async throws -> Int {
        let sealer = database.secretSealer
        let rows = try await read { sql in
            try await sql.raw("SELECT id, secret, previous_secret, previous_secret_expires_at FROM webhooks").all().map { row in
                let previous = try row.decode(column: "previous_secret", as: String?.self)
                let expires = try row.decode(column: "previous_secret_expires_at", as: Int64?.self) ?? 0
                // A replaced secret past its overlap signs nothing: it is dropped, not carried over to the new key.
                return (
                    id: try row.decode(column: "id", as: String.self), secret: try row.decode(column: "secret", as: String.self),
                    previous: expires > now ? previous : nil, dropsPrevious: previous != nil && expires <= now
                )
            }
        }
        var changed = 0
        for row in rows where !sealer.isCurrent(row.secret) || !(row.previous.map(sealer.isCurrent) ?? true) || row.dropsPrevious {
            let secret = try sealer.seal(try sealer.open(row.secret))
            let previous = try row.previous.map { try sealer.seal(try sealer.open($0)) }
            let updated = try await read { sql in
                try await sql.raw(
                    """
                    UPDATE webhooks SET secret = \(bind: secret), previous_secret = \(bind: previous)
                    WHERE id = \(bind: row.id) AND secret = \(bind: row.secret) RETURNING id
                    """
                ).first() != nil
            }
            if updated { changed += 1 }
        }
        return changed
    }

    /// Stores a delivery of an event to a webhook and the job that sends it, in the caller's transaction,
    /// and wakes the delivery workers of every node at commit.
    @discardableResult
    func insertDelivery(
        webhookID: String, eventID: String, topic: String, teamID: String, traceContext: String?, now: Int64, in sql: any SQLDatabase
    ) async throws -> String {
        let id = randomIdentifier()
        let jobID = randomIdentifier()
        let input = String(decoding: try JSONSerialization.data(withJSONObject: ["delivery_id": id]), as: UTF8.self)
        try await JobsRepository.insertJob(
            NewJob(
                kind: Webhook.deliveryKind, queue: Webhook.deliveryQueue, input: input, maxAttempts: Webhook.deliveryAttempts,
                traceContext: traceContext), id: jobID, teamID: teamID, now: now, in: sql)
        try await sql.raw(
            """
            INSERT INTO webhook_deliveries (id, webhook_id, team_id, event_id, topic, job_id, status, attempts, created_at, updated_at)
            VALUES (\(bind: id), \(bind: webhookID), \(bind: teamID), \(bind: eventID), \(bind: topic), \(bind: jobID),
                    \(bind: DeliveryStatus.pending.rawValue), 0, \(bind: now), \(bind: now))
            """
        ).run()
        try await database.jobs.wakeWorkers(of: Webhook.deliveryQueue, in: sql)
        return id
    }

    /// A webhook's deliveries, newest first, `limit` of them after the delivery `cursor` (the last of the previous page).
    public func deliveries(webhookID: String, teamID: String, limit: Int, after cursor: String? = nil) async throws
        -> [WebhookDelivery]
    {
        try await read { sql in
            var page: SQLQueryString = ""
            if let cursor {
                page = """
                    AND (created_at, id) < (SELECT created_at, id FROM webhook_deliveries WHERE id = \(bind: cursor) AND team_id = \(bind: teamID))
                    """
            }
            return try await sql.raw(
                """
                SELECT \(WebhookDelivery.columns) FROM webhook_deliveries
                WHERE webhook_id = \(bind: webhookID) AND team_id = \(bind: teamID) \(page)
                ORDER BY created_at DESC, id DESC LIMIT \(bind: limit)
                """
            ).all().map(WebhookDelivery.init(row:))
        }
    }

    /// Sends a delivery's event to its webhook once more, as a new delivery (the old one keeps its
    /// history). Nil when the team has no such delivery; throws `notFound` when the event has been pruned.
    /// A new delivery of a delivery's event; with `maxWaiting`, throws `queueFull` when the team already has
    /// that many jobs waiting in the deliveries' queue (a redelivery is a job like the others).
    public func redeliver(
        _ deliveryID: String, webhookID: String, teamID: String, traceContext: String?, maxWaiting: Int? = nil,
        now: Int64 = StoreTime.now()
    ) async throws -> WebhookDelivery? {
        try await transaction { sql in
            guard
                let old = try await sql.raw(
                    """
                    SELECT \(WebhookDelivery.columns) FROM webhook_deliveries
                    WHERE id = \(bind: deliveryID) AND webhook_id = \(bind: webhookID) AND team_id = \(bind: teamID)
                    """
                ).first().map(WebhookDelivery.init(row:))
            else { return nil }
            guard try await sql.raw("SELECT id FROM events WHERE id = \(bind: old.eventID)").first() != nil else {
                throw StoreError.notFound("event \(old.eventID)")
            }
            if let maxWaiting {
                try await JobsRepository.checkRoom(for: 1, in: Webhook.deliveryQueue, teamID: teamID, maxWaiting: maxWaiting, in: sql)
            }
            let id = try await self.insertDelivery(
                webhookID: webhookID, eventID: old.eventID, topic: old.topic, teamID: teamID, traceContext: traceContext, now: now, in: sql)
            return try await sql.raw("SELECT \(WebhookDelivery.columns) FROM webhook_deliveries WHERE id = \(bind: id)").first()
                .map(WebhookDelivery.init(row:))
        }
    }

    /// What a delivery's job sends: the delivery, its webhook (with the secrets that sign now) and the
    /// event; nil when the webhook was deleted or the event pruned.
    public func pendingDelivery(_ id: String, now: Int64 = StoreTime.now()) async throws -> (
        delivery: WebhookDelivery, webhook: Webhook, event: Event
    )? {
        let sealer = database.secretSealer
        return try await read { sql in
            guard
                let delivery = try await sql.raw("SELECT \(WebhookDelivery.columns) FROM webhook_deliveries WHERE id = \(bind: id)").first()
                    .map(WebhookDelivery.init(row:)),
                let webhook = try await Self.fetch(delivery.webhookID, teamID: delivery.teamID, now: now, sealer: sealer, in: sql),
                let event = try await sql.raw(
                    "SELECT \(unsafeRaw: Event.columns) FROM events WHERE id = \(bind: delivery.eventID)"
                ).first()?.decode(Event.self)
            else { return nil }
            return (delivery, webhook, event)
        }
    }

    /// Records one attempt of a delivery and where that leaves it.
    public func recordDeliveryAttempt(
        _ id: String, status: DeliveryStatus, responseStatus: Int?, error: String?, now: Int64 = StoreTime.now()
    ) async throws {
        try await transaction { sql in
            try await sql.raw(
                """
                UPDATE webhook_deliveries
                SET status = \(bind: status.rawValue), attempts = attempts + 1, response_status = \(bind: responseStatus),
                    last_error = \(bind: error), updated_at = \(bind: now)
                WHERE id = \(bind: id)
                """
            ).run()
        }
    }
}

extension Database {
    /// Webhooks and their deliveries.
    public var webhooks: WebhooksRepository { WebhooksRepository(database: self) }
}
