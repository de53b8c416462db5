import ConduitCore
import Foundation
import HTTPTypes
import Logging
import NIOWebSocket
import Store
import Synchronization
import WSCore

/// One WebSocket on the event log (`GET /v1/ws`): the client multiplexes subscriptions over it, each with
/// the filters and resume cursor of an SSE stream, says what it is viewing, and pings. JSON text messages:
///
/// - client: `{"type": "subscribe", "id": "s1", "types": ["job.completed"], "resource": "job:…", "after": 41}`,
///   `{"type": "unsubscribe", "id": "s1"}`, `{"type": "presence", "resource": "…", "state": "viewing" | "left"}`,
///   `{"type": "ping"}`;
/// - server: `subscribed`, `event` (`{"subscription": "s1", "event": {…}}`, the history's event object),
///   `unsubscribed`, `events_expired`, `resync_required`, `presence.update`, `pong`, `unauthorized`, and
///   `error` (`{"id", "error": {…}}`, the API's error object).
///
/// A subscription that falls more than `events.stream_buffer` events behind is sent `resync_required` with
/// its cursor, and the socket is closed (1013, try again later); a revoked key's socket is sent
/// `unauthorized` and closed (1008).
struct EventSocket: Sendable {
    let hub: EventHub
    let presence: PresenceBoard
    let store: Database
    let teamID: String
    let identity: Identity?
    let access: EventAccess

    /// Most subscriptions, and most resources viewed, at once on one socket.
    static let maxSubscriptions = 20
    static let maxViewed = 20
    /// Largest message a client may send.
    static let maxMessageBytes = 16 * 1024

    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, logger: Logger) async throws {
        let (presenceMessages, outbox) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(64))
        let socket = presence.join(outbox)
        let pumps = Mutex<[String: (task: Task<Void, Never>, resource: String?)]>([:])
        defer {
            for pump in pumps.withLock({ $0.values }) { pump.task.cancel() }
            presence.leave(socket)
            outbox.finish()
        }
        let presenceWriter = Task {
            for await message in presenceMessages { try? await outbound.write(.text(message)) }
        }
        defer { presenceWriter.cancel() }
        for try await message in inbound.messages(maxSize: Self.maxMessageBytes) {
            guard case .text(let text) = message,
                let request = try? JSONDecoder().decode(ClientMessage.self, from: Data(text.utf8))
            else {
                try await send(
                    error: .invalidRequest("messages are JSON objects with a type", code: "invalid_message"), id: nil, to: outbound)
                continue
            }
            do {
                switch request.type {
                case "subscribe":
                    let id = try Self.subscriptionID(request.id)
                    guard pumps.withLock({ $0[id] == nil }) else {
                        throw APIError.invalidRequest("subscription '\(id)' is open already", param: "id", code: "duplicate_subscription")
                    }
                    guard pumps.withLock({ $0.count }) < Self.maxSubscriptions else {
                        throw APIError.invalidRequest(
                            "a socket holds at most \(Self.maxSubscriptions) subscriptions", param: "id", code: "too_many_subscriptions")
                    }
                    let filter = try access.filter(types: request.types, resource: request.resource)
                    let subscription = try await hub.subscribe(teamID: teamID, holder: identity?.holder, filter: filter)
                    if let resource = request.resource { presence.watch(socket, teamID: teamID, resource: resource) }
                    let task = Task {
                        await pump(subscription, id: id, after: max(0, request.after ?? 0), to: outbound, logger: logger)
                    }
                    pumps.withLock { $0[id] = (task, request.resource) }
                case "unsubscribe":
                    let id = try Self.subscriptionID(request.id)
                    guard let pump = pumps.withLock({ $0.removeValue(forKey: id) }) else {
                        throw APIError(status: .notFound, message: "no subscription '\(id)'", param: "id", code: "unknown_subscription")
                    }
                    pump.task.cancel()
                    await pump.task.value
                    if let resource = pump.resource { presence.unwatch(socket, teamID: teamID, resource: resource) }
                    try await outbound.write(.text(#"{"type":"unsubscribed","id":"\#(id)"}"#))
                case "presence":
                    guard let resource = request.resource, !resource.isEmpty, resource.utf8.count <= 200 else {
                        throw APIError.invalidRequest(
                            "resource must be 1 to 200 characters, as kind:id", param: "resource", code: "invalid_value")
                    }
                    guard request.state == "viewing" || request.state == "left" else {
                        throw APIError.invalidRequest("state must be 'viewing' or 'left'", param: "state", code: "invalid_value")
                    }
                    guard
                        presence.set(
                            socket, teamID: teamID, resource: resource, viewing: request.state == "viewing", keyID: identity?.keyID,
                            userID: identity?.userID, limit: Self.maxViewed)
                    else {
                        throw APIError.invalidRequest(
                            "a socket views at most \(Self.maxViewed) resources at once", param: "resource", code: "too_many_viewed")
                    }
                case "ping":
                    try await outbound.write(.text(#"{"type":"pong"}"#))
                default:
                    throw APIError.invalidRequest(
                        "unknown message type; the types are subscribe, unsubscribe, presence and ping", param: "type",
                        code: "invalid_value")
                }
            } catch let error as APIError {
                try await send(error: error, id: request.id, to: outbound)
            }
        }
    }

    /// Sends a subscription's events: those after `after` from the log, then each new one as the hub reads it.
    private func pump(
        _ subscription: EventSubscription, id: String, after start: Int64, to outbound: WebSocketOutboundWriter, logger: Logger
    ) async {
        defer { hub.unsubscribe(subscription) }
        var after = start
        do {
            try await outbound.write(.text(#"{"type":"subscribed","id":"\#(id)","after":\#(after)}"#))
            if after > 0, let earliest = try await store.events.earliestSequence(teamID: teamID), earliest > after + 1 {
                try await outbound.write(
                    .text(#"{"type":"events_expired","subscription":"\#(id)","after":\#(after),"earliest":\#(earliest)}"#))
            }
            while !Task.isCancelled {
                let backlog = try await store.events.list(teamID: teamID, after: after, filter: subscription.filter, limit: EventHub.page)
                for event in backlog { try await outbound.write(.text(Self.message(StreamedEvent(event), subscription: id))) }
                after = backlog.last?.sequence ?? after
                if backlog.count < EventHub.page { break }
            }
            while true {
                switch await subscription.next() {
                case .events(let events):
                    for streamed in events where streamed.event.sequence > after {
                        try await outbound.write(.text(Self.message(streamed, subscription: id)))
                        after = streamed.event.sequence
                    }
                case .heartbeat:
                    // A key revoked (or expired) since the socket opened ends it: access is checked again at each heartbeat.
                    if let keyID = identity?.keyID,
                        !(try await store.keys.find(id: keyID, teamID: teamID)?.isUsable(at: StoreTime.now()) ?? false)
                    {
                        try await outbound.write(.text(#"{"type":"unauthorized","reason":"the key was revoked or expired"}"#))
                        try await outbound.close(.policyViolation, reason: "the key was revoked or expired")
                        return
                    }
                case .overflowed:
                    try await outbound.write(.text(#"{"type":"resync_required","subscription":"\#(id)","after":\#(after)}"#))
                    try await outbound.close(.unknown(1013), reason: "fell behind; resubscribe from after")
                    return
                case .closed:
                    return
                }
            }
        } catch {
            logger.debug("event subscription ended", metadata: ["subscription": "\(id)", "error": "\(error)"])
        }
    }

    private static func message(_ streamed: StreamedEvent, subscription id: String) -> String {
        #"{"type":"event","subscription":"\#(id)","event":\#(streamed.json)}"#
    }

    private func send(error: APIError, id: String?, to outbound: WebSocketOutboundWriter) async throws {
        let body = String(decoding: (try? error.jsonBody()) ?? Data("{}".utf8), as: UTF8.self)
        // The error object's fields, with the message's type and the id it answers.
        let idField = (try? Self.subscriptionID(id)).map { #""id":"\#($0)","# } ?? ""
        try await outbound.write(.text(#"{"type":"error",\#(idField)\#(body.dropFirst())"#))
    }

    /// A subscription's id as the client names it: 1 to 64 letters, digits, `-`, `_`, `.` or `:` (written
    /// into messages as it is).
    private static func subscriptionID(_ id: String?) throws -> String {
        guard let id, (1...64).contains(id.utf8.count),
            id.utf8.allSatisfy({
                $0.isASCIILetterOrDigit || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".")
                    || $0 == UInt8(ascii: ":")
            })
        else {
            throw APIError.invalidRequest("id must be 1 to 64 letters, digits, '-', '_', '.' or ':'", param: "id", code: "invalid_value")
        }
        return id
    }

    private struct ClientMessage: Decodable {
        var type: String
        var id: String?
        var types: [String]?
        var resource: String?
        var after: Int64?
        var state: String?
    }
}

extension UInt8 {
    fileprivate var isASCIILetterOrDigit: Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self)
    }
}
