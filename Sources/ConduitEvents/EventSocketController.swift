import ConduitCore
import Foundation
import HTTPTypes
import Hummingbird
import Store

/// `GET /v1/ws`, the event log over a WebSocket (`EventSocket`), and `POST /v1/ws/tickets`, the
/// single-use tickets a browser opens it (or the SSE stream) with (`/v1/ws?ticket=…`), since a
/// browser's WebSocket or EventSource cannot carry an `Authorization` header.
struct EventSocketController: Sendable {
    let teams: TeamScope
    let hub: EventHub
    let presence: PresenceBoard
    let catalogue: [any EventPayload.Type]
    /// The work the node's features offer on a socket, by its message type.
    let operations: [String: any SocketOperation]
    let limits: Live<APILimits>

    static let path = "/v1/ws"
    /// Largest message of a socket without operations: subscriptions and presence are small.
    static let maxMessageBytes = 16 * 1024
    /// How long a ticket may wait to be used: long enough to open the socket, too short to be worth stealing.
    static let ticketLifetime: Duration = .seconds(30)

    func addRoutes(to router: some RouterMethods<ConduitRequestContext>) {
        router.get(RouterPath(Self.path)) { request, context in try await handshake(request, context: context) }
        router.post("/v1/ws/tickets") { _, context in try await issueTicket(context: context) }
    }

    /// Takes the upgrade when the caller may open one more stream (429 at the handshake otherwise) and,
    /// coming with a ticket, spends it; a request that is not a handshake is told so.
    private func handshake(_ request: Request, context: ConduitRequestContext) async throws -> Response {
        let teamID = try await teams.teamID(context)
        // The socket itself is an open stream of its key's and team's (429 past their limits), subscribed or not.
        let place = HubPlace(
            hub: hub, subscription: try await hub.subscribe(teamID: teamID, holder: context.identity?.holder, filter: Self.nothing))
        guard let offer = WebSocketUpgrade.offered else { throw WebSocketUpgrade.refusal(request) }
        try await Self.spendTicket(context, store: teams.store)
        let socket = EventSocket(
            hub: hub, presence: presence, store: teams.store, teamID: teamID, caller: context,
            access: EventAccess(catalogue: catalogue, scopes: context.identity?.scopes), operations: operations,
            maxMessageBytes: operations.isEmpty ? Self.maxMessageBytes : max(Self.maxMessageBytes, limits.current.maxBodyBytes))
        offer.accept { inbound, outbound, webSocket in
            defer { place.release() }
            try await socket.run(inbound: inbound, outbound: outbound, logger: webSocket.logger)
        }
        return Response(status: .ok)
    }

    /// Spends the ticket the request was authenticated by, if any: a second use is refused (401).
    static func spendTicket(_ context: ConduitRequestContext, store: Database) async throws {
        if let ticket = context.ticket, !(try await store.webSocketTickets.redeem(id: ticket)) {
            throw APIKeyAuthenticator.unauthorized(
                "the ticket is unknown, expired or already used; ask for a new one", code: "invalid_ticket")
        }
    }

    /// What the socket's own place at the hub admits: nothing, its subscriptions have their own.
    private static let nothing = EventFilter(types: [])

    private func issueTicket(context: ConduitRequestContext) async throws -> Response {
        guard let identity = context.identity else {
            throw APIError.invalidRequest(
                "authentication is off on this server: open \(Self.path) without a ticket", code: "tickets_not_needed")
        }
        let (ticket, expiresAt) = try await teams.store.webSocketTickets.issue(
            teamID: identity.teamID, keyID: identity.keyID, userID: identity.userID, lifetime: Self.ticketLifetime)
        let body = try wireJSON(TicketView(ticket: ticket, expiresAt: expiresAt / 1000))
        return Response(
            status: .created, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    private struct TicketView: Encodable {
        var object = "ws_ticket"
        var ticket: String
        var expiresAt: Int64
    }
}
