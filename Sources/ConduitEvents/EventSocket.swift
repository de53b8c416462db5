import ConduitCore
import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOWebSocket
import ServiceLifecycle
import Store
import Synchronization
import WSCore

/// One WebSocket on the event log (`GET /v1/ws`): the client multiplexes subscriptions over it, each with
/// the filters and resume cursor of an SSE stream, says what it is viewing, and pings. JSON text messages:
///
/// - client: `{"type": "subscribe", "id": "s1", "types": ["job.completed"], "resource": "job:…", "after": 41}`,
///   `{"type": "unsubscribe", "id": "s1"}`, `{"type": "presence", "resource": "…", "state": "viewing" | "left"}`,
///   `{"type": "ping"}`, and the work the node's features offer (`SocketOperation`: `{"type": "chat", "id": "t1",
///   …}`), which `{"type": "cancel", "id": "t1"}` stops;
/// - server: `subscribed`, `event` (`{"subscription": "s1", "event": {…}}`, the history's event object),
///   `unsubscribed`, `events_expired`, `resync_required`, `presence.update`, `pong`, `unauthorized`, the
///   operations' replies (`chat.chunk`, …), `cancelled`, and `error` (`{"id", "error": {…}}`, the API's error object).
///
/// A subscription that falls more than `events.stream_buffer` events behind is sent `resync_required` with
/// its cursor, and the socket is closed (1013, try again later); one the store fails is sent
/// `resync_required` and dropped, the socket kept; a revoked key's (or deleted user's) socket is sent
/// `unauthorized` and closed (1008).
struct EventSocket: Sendable {
    let hub: EventHub
    let presence: PresenceBoard
    let store: Database
    let teamID: String
    /// The handshake's: who the socket speaks for, and what its operations run as.
    let caller: ConduitRequestContext
    let access: EventAccess
    /// The work a client may start on the socket, by its message type.
    let operations: [String: any SocketOperation]

    var identity: Identity? { caller.identity }

    /// Most subscriptions, and most resources viewed, at once on one socket.
    static let maxSubscriptions = 20
    static let maxViewed = 20
    /// Most operations running at once on one socket.
    static let maxOperations = 4
    /// Largest message a client may send: 16 KiB, or a request body's largest where operations are
    /// offered (a chat turn carries its conversation).
    let maxMessageBytes: Int

    /// Serves the socket until the client closes it, the server does (a subscription fell behind, the
    /// caller's access ended), or the node stops.
    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, logger: Logger) async throws {
        let (presenceMessages, outbox) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(64))
        let socket = presence.join(outbox)
        let pumps = SocketTasks()
        let running = SocketTasks()
        defer {
            pumps.cancelAll()
            running.cancelAll()
            presence.leave(socket)
            outbox.finish()
        }
        // Ends the socket from the server's side (once a close is sent, the client may not answer it, and
        // nothing must wait for it to), and asks for its access checks.
        let (ends, end) = AsyncStream.makeStream(of: SocketSignal.self)
        var failure: (any Error)?
        do {
            try await serve(
                inbound: inbound, outbound: outbound, presenceMessages: presenceMessages, socket: socket, pumps: pumps, running: running,
                ends: ends, end: end, logger: logger)
        } catch {
            failure = error
        }
        // Operations end with their socket, and settle (a chat turn's metering) before it is gone.
        await running.cancelAndWait()
        if let failure { throw failure }
    }

    private func serve(
        inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, presenceMessages: AsyncStream<String>, socket: UInt64,
        pumps: SocketTasks, running: SocketTasks, ends: AsyncStream<SocketSignal>, end: AsyncStream<SocketSignal>.Continuation,
        logger: Logger
    ) async throws {
        // Kept by the connection's event loop: no task sleeps for it.
        let heartbeat = TimeAmount(hub.heartbeat)
        let checks = caller.channel.eventLoop.scheduleRepeatedTask(initialDelay: heartbeat, delay: heartbeat) { _ in
            end.yield(.checkAccess)
        }
        defer { checks.cancel() }
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { for await message in presenceMessages { try? await outbound.write(.text(message)) } }
                group.addTask {
                    try await read(inbound, outbound: outbound, socket: socket, pumps: pumps, running: running, end: end, logger: logger)
                }
                group.addTask { await watch(ends, outbound: outbound, end: end) }
                // The reader ends with the client, `ends` with the server: either way, the rest goes.
                _ = try await group.next()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            end.yield(.end)
        }
    }

    /// Waits for the server to end the socket (`.end`), checking the caller's access for the whole socket
    /// at each heartbeat meanwhile (`.checkAccess`): a key revoked or expired (a user deleted) since it
    /// opened is sent `unauthorized` and the socket closed (1008).
    private func watch(
        _ signals: AsyncStream<SocketSignal>, outbound: WebSocketOutboundWriter, end: AsyncStream<SocketSignal>.Continuation
    ) async {
        for await signal in signals {
            switch signal {
            case .end:
                return
            case .checkAccess:
                if await !EventAccess.stillAllowed(identity, teamID: teamID, store: store) {
                    await refuseAccess(outbound: outbound, end: end)
                    return
                }
            }
        }
    }

    private func refuseAccess(outbound: WebSocketOutboundWriter, end: AsyncStream<SocketSignal>.Continuation) async {
        try? await outbound.write(.text(#"{"type":"unauthorized","reason":"the key was revoked or expired, or the user deleted"}"#))
        try? await outbound.close(.policyViolation, reason: "access ended")
        end.yield(.end)
    }

    private func read(
        _ inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, socket: UInt64, pumps: SocketTasks, running: SocketTasks,
        end: AsyncStream<SocketSignal>.Continuation, logger: Logger
    ) async throws {
        for try await message in inbound.messages(maxSize: maxMessageBytes) {
            // Each message is handled in a short task of its own: the reader lives as long as the socket, and a
            // task keeps the stack its deepest call needed (decoding, subscribing, the store) until it ends.
            let reading = try await inChildTask {
                try await handle(message, outbound: outbound, socket: socket, pumps: pumps, running: running, end: end, logger: logger)
            }
            guard reading else { return }
        }
    }

    /// Does what a client's message asks; false when the socket is to be read no more (its access ended).
    private func handle(
        _ message: WebSocketMessage, outbound: WebSocketOutboundWriter, socket: UInt64, pumps: SocketTasks, running: SocketTasks,
        end: AsyncStream<SocketSignal>.Continuation, logger: Logger
    ) async throws -> Bool {
        // Read as the API reads bodies: strict JSON.
        guard case .text(let text) = message, let request = try? decodeStrictJSON(ClientMessage.self, from: ByteBuffer(string: text))
        else {
            try await send(
                error: .invalidRequest("messages are JSON objects with a type", code: "invalid_message"), id: nil, to: outbound)
            return true
        }
        do {
            if let operation = operations[request.type] {
                // Run as the caller is now: a key revoked since the handshake starts nothing, and limits
                // changed since apply.
                var caller = self.caller
                if let identity = caller.identity {
                    guard let current = await EventAccess.refreshed(identity, store: store) else {
                        await refuseAccess(outbound: outbound, end: end)
                        return false
                    }
                    caller.identity = current
                }
                // An operation is handed the whole message, as it is.
                let fields = try StrictJSON.parse(text.utf8).objectValue ?? [:]
                try start(operation, message: fields, id: request.id, as: caller, running: running, outbound: outbound)
                return true
            }
            switch request.type {
            case "subscribe":
                let id = try Self.subscriptionID(request.id)
                guard !pumps.has(id) else {
                    throw APIError.invalidRequest("subscription '\(id)' is open already", param: "id", code: "duplicate_subscription")
                }
                guard pumps.count < Self.maxSubscriptions else {
                    throw APIError.invalidRequest(
                        "a socket holds at most \(Self.maxSubscriptions) subscriptions", param: "id", code: "too_many_subscriptions")
                }
                let filter = try access.filter(types: request.types, resource: request.resource)
                // Reading the history needs the access the socket was opened with, still.
                guard await EventAccess.stillAllowed(identity, teamID: teamID, store: store) else {
                    await refuseAccess(outbound: outbound, end: end)
                    return false
                }
                let subscription = try await hub.subscribe(teamID: teamID, holder: identity?.holder, filter: filter)
                if let resource = request.resource { presence.watch(socket, teamID: teamID, resource: resource) }
                pumps.start(id, resource: request.resource) {
                    await pump(subscription, id: id, after: max(0, request.after ?? 0), to: outbound, end: end, logger: logger)
                    // Ended by itself (not unsubscribed): its id is free again.
                    if pumps.forget(id), let resource = request.resource {
                        presence.unwatch(socket, teamID: teamID, resource: resource)
                    }
                }
            case "unsubscribe":
                let id = try Self.subscriptionID(request.id)
                guard let pump = pumps.remove(id) else {
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
            case "cancel":
                let id = try Self.subscriptionID(request.id)
                guard let operation = running.remove(id) else {
                    throw APIError(
                        status: .notFound, message: "no operation '\(id)' is running", param: "id", code: "unknown_operation")
                }
                operation.task.cancel()
                await operation.task.value
                try await outbound.write(.text(#"{"type":"cancelled","id":"\#(id)"}"#))
            default:
                let types = ["subscribe", "unsubscribe", "presence", "ping", "cancel"] + operations.keys.sorted()
                throw APIError.invalidRequest(
                    "unknown message type; the types are \(types.joined(separator: ", "))", param: "type", code: "invalid_value")
            }
        } catch {
            try await send(error: APIError(error), id: request.id, to: outbound)
        }
        return true
    }

    /// Starts `operation` as the client's `message` asks, in a task of its own under `id`, as `caller`. Its
    /// replies carry the id; when it ends, the socket says how (`TYPE.done`, or `error`), once the id is
    /// free again.
    private func start(
        _ operation: any SocketOperation, message: [String: JSONValue], id: String?, as caller: ConduitRequestContext,
        running: SocketTasks, outbound: WebSocketOutboundWriter
    ) throws {
        let id = try Self.subscriptionID(id)
        if let identity = caller.identity, !identity.scopes.contains(operation.scope) { throw RequireScope.lacking(operation.scope) }
        guard !running.has(id) else {
            throw APIError.invalidRequest("operation '\(id)' is running already", param: "id", code: "duplicate_operation")
        }
        guard running.count < Self.maxOperations else {
            throw APIError.invalidRequest(
                "a socket runs at most \(Self.maxOperations) operations at once", param: "id", code: "too_many_operations")
        }
        let type = operation.type
        let reply: SocketReply = { kind, fields in
            var reply = fields
            reply["type"] = .string("\(type).\(kind)")
            reply["id"] = .string(id)
            try await outbound.write(.text(String(decoding: try wireJSON(JSONValue.object(reply)), as: UTF8.self)))
        }
        running.start(id, resource: nil) {
            let failure: APIError?
            do {
                try await operation.run(message, context: caller, reply: reply)
                failure = nil
            } catch {
                failure = APIError(error)
            }
            // Cancelled by the client, it was taken out and the client is told `cancelled`; by the socket's end, no one listens.
            guard running.forget(id), !Task.isCancelled else { return }
            if let failure { try? await send(error: failure, id: id, to: outbound) } else { try? await reply("done", [:]) }
        }
    }

    /// Sends a subscription's events: those after `after` from the log, then each new one as the hub reads it.
    private func pump(
        _ subscription: EventSubscription, id: String, after start: Int64, to outbound: WebSocketOutboundWriter,
        end: AsyncStream<SocketSignal>.Continuation, logger: Logger
    ) async {
        defer { hub.unsubscribe(subscription) }
        var feed = EventFeed(subscription, store: store, after: start)
        do {
            try await outbound.write(.text(#"{"type":"subscribed","id":"\#(id)","after":\#(start)}"#))
            while true {
                switch try await feed.next() {
                case .expired(let earliest):
                    try await outbound.write(
                        .text(#"{"type":"events_expired","subscription":"\#(id)","after":\#(feed.after),"earliest":\#(earliest)}"#))
                case .event(let streamed):
                    try await outbound.write(.text(#"{"type":"event","subscription":"\#(id)","event":\#(streamed.json)}"#))
                case .heartbeat:
                    // The socket's access is watched for all its subscriptions at once (`watchAccess`).
                    continue
                case .overflowed:
                    try await outbound.write(.text(#"{"type":"resync_required","subscription":"\#(id)","after":\#(feed.after)}"#))
                    try await outbound.close(.unknown(1013), reason: "fell behind; resubscribe from after")
                    end.yield(.end)
                    return
                case .closed:
                    return
                }
            }
        } catch is CancellationError {
            return
        } catch {
            // The store failed it: the client is told where to pick up, and the subscription is gone (its id free).
            logger.warning("event subscription failed", metadata: ["subscription": "\(id)", "error": "\(error)"])
            try? await outbound.write(.text(#"{"type":"resync_required","subscription":"\#(id)","after":\#(feed.after)}"#))
        }
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

/// What the server's side tells a socket's watcher: end the socket, or check the caller's access.
enum SocketSignal: Sendable {
    case end
    case checkAccess
}

/// A socket's subscriptions (each sending its events) or its running operations, each in a task of its own, by id.
private final class SocketTasks: Sendable {
    private let pumps = Mutex<[String: (task: Task<Void, Never>, resource: String?)]>([:])

    var count: Int { pumps.withLock { $0.count } }

    func has(_ id: String) -> Bool { pumps.withLock { $0[id] != nil } }

    func start(_ id: String, resource: String?, _ work: @escaping @Sendable () async -> Void) {
        pumps.withLock { $0[id] = (Task { await work() }, resource) }
    }

    /// Takes the subscription out, for its unsubscribe.
    func remove(_ id: String) -> (task: Task<Void, Never>, resource: String?)? { pumps.withLock { $0.removeValue(forKey: id) } }

    /// Drops a subscription that ended by itself; false when it was already taken out.
    func forget(_ id: String) -> Bool { pumps.withLock { $0.removeValue(forKey: id) != nil } }

    func cancelAll() {
        for pump in pumps.withLock({ $0.values }) { pump.task.cancel() }
    }

    func cancelAndWait() async {
        let tasks = pumps.withLock { $0.values.map(\.task) }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }
}
