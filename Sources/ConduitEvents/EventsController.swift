import ConduitCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ServiceLifecycle
import Store

/// The team's event log: `GET /v1/events`, its history, and `GET /v1/events/stream`, the same events
/// live as server-sent events. Both take `types` (comma-separated) and `resource` (`job:…`,
/// `conversation:…`) filters; a caller sees only the types its scopes may read (a `jobs` key, the
/// jobs' events), and only its team's.
struct EventsController: Sendable {
    let teams: TeamScope
    let hub: EventHub
    /// Every event type, with the scope that may read it.
    let catalogue: [any EventPayload.Type]

    func addRoutes(to router: some RouterMethods<ConduitRequestContext>) {
        router.get("/v1/events") { request, context in try await history(request, context: context) }
        router.get("/v1/events/stream") { request, context in try await stream(request, context: context) }
    }

    /// `GET /v1/admin/audit`: who changed the team's keys, users, limits and webhooks, oldest first; by
    /// `types` (of the audit trail's), `resource`, `actor` (`key:ID`, `user:ID`, `cli`), paged with `after`.
    func addAuditRoute(to router: some RouterMethods<ConduitRequestContext>) {
        router.get("/v1/admin/audit") { request, context in
            let audited = Set(AuditTrail.types.map { $0.type })
            let asked = request.uri.queryParameters["types"].map {
                $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            }
            if let other = asked?.first(where: { !$0.isEmpty && !audited.contains($0) }) {
                throw APIError.invalidRequest(
                    "'\(other.bounded(toBytes: 64))' is not an event of the audit trail; its types are \(audited.sorted().joined(separator: ", "))",
                    param: "types", code: "invalid_value")
            }
            var filter = try filter(request, context: context)
            filter.types = filter.types.map { $0.intersection(audited) } ?? audited
            if let actor = request.uri.queryParameters["actor"].map(String.init) {
                guard (1...200).contains(actor.utf8.count) else {
                    throw APIError.invalidRequest("actor must be key:ID, user:ID or cli", param: "actor", code: "invalid_value")
                }
                filter.actor = actor
            }
            return try await history(request, context: context, filter: filter)
        }
    }

    private func history(_ request: Request, context: ConduitRequestContext, filter given: EventFilter? = nil) async throws -> Response {
        let page = try ListPage(request)
        let filter = try given ?? filter(request, context: context)
        let after = try Self.sequence(page.after, named: "after") ?? 0
        let events = try await teams.store.events.list(
            teamID: try await teams.teamID(context), after: after, filter: filter, limit: page.fetch)
        return try page.response(events, id: { String($0.sequence) }, view: EventView.init)
    }

    /// Sends the events after the client's place (`Last-Event-ID`, or `after`), then each new one as it
    /// is recorded, with `: ping` when quiet. A client that falls too far behind gets `resync_required`
    /// (its `after` to reconnect with) and the stream ends.
    private func stream(_ request: Request, context: ConduitRequestContext) async throws -> Response {
        let filter = try filter(request, context: context)
        let resumeAfter =
            try Self.sequence(request.headers[Self.lastEventID], named: "Last-Event-ID")
            ?? Self.sequence(request.uri.queryParameters["after"].map(String.init), named: "after") ?? 0
        let teamID = try await teams.teamID(context)
        let place = HubPlace(
            hub: hub, subscription: try await hub.subscribe(teamID: teamID, holder: context.identity?.holder, filter: filter))
        try await EventSocketController.spendTicket(context, store: teams.store)
        let store = teams.store
        let identity = context.identity
        let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache", Self.accelBuffering: "no"]
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                defer { place.release() }
                var feed = EventFeed(place.subscription, store: store, after: resumeAfter)
                // At once, so that the client knows the stream is open before the first event.
                try await writer.write(ByteBuffer(string: "retry: \(Self.retryMilliseconds)\n\n"))
                while true {
                    // The server waits for open requests when it stops: a stream ends then, as a stream's client expects.
                    let next = try await withGracefulShutdownHandler {
                        try await feed.next()
                    } onGracefulShutdown: {
                        place.subscription.close()
                    }
                    switch next {
                    case .expired(let earliest):
                        // Resuming after events deleted since with age (events.retention_days): the client is told, not left to guess.
                        try await writer.write(
                            ByteBuffer(string: "event: events_expired\ndata: {\"after\":\(feed.after),\"earliest\":\(earliest)}\n\n"))
                    case .event(let streamed):
                        try await writer.write(streamed.text)
                    case .heartbeat:
                        // A key revoked (or expired) since the stream opened ends it: access is checked again at each ping.
                        guard await EventAccess.stillAllowed(identity, teamID: teamID, store: store) else {
                            try await writer.write(
                                ByteBuffer(string: "event: unauthorized\ndata: {\"reason\":\"the key was revoked or expired\"}\n\n"))
                            try await writer.finish(nil)
                            return
                        }
                        try await writer.write(ByteBuffer(string: ": ping\n\n"))
                    case .overflowed:
                        try await writer.write(ByteBuffer(string: "event: resync_required\ndata: {\"after\":\(feed.after)}\n\n"))
                        try await writer.finish(nil)
                        return
                    case .closed:
                        try await writer.finish(nil)
                        return
                    }
                }
            })
    }

    /// The caller's filter: the types asked for (all it may read when none are), and the resource.
    private func filter(_ request: Request, context: ConduitRequestContext) throws -> EventFilter {
        let query = request.uri.queryParameters
        return try EventAccess(catalogue: catalogue, scopes: context.identity?.scopes).filter(
            types: query["types"].map { $0.split(separator: ",").map(String.init) }, resource: query["resource"].map(String.init))
    }

    /// An event's sequence number as a client sends it back; nil when absent.
    static func sequence(_ text: String?, named name: String) throws -> Int64? {
        guard let text else { return nil }
        guard let value = Int64(text), value >= 0 else {
            throw APIError.invalidRequest("\(name) must be an event's sequence number (0 or more)", param: name, code: "invalid_value")
        }
        return value
    }

    static let lastEventID = HTTPField.Name("Last-Event-ID")!
    /// Tells nginx not to buffer the stream.
    static let accelBuffering = HTTPField.Name("X-Accel-Buffering")!
    /// How long a browser's EventSource waits before it reconnects.
    static let retryMilliseconds = 2000
}
