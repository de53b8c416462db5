import Store

/// Work a WebSocket client starts with a message and may cancel with another, on the event socket
/// (`GET /v1/ws`), offered by a feature under the message's type: `{"type": TYPE, "id": "t1", …}` starts
/// it, the socket sends its replies as `{"type": "TYPE.KIND", "id": "t1", …}` and, when it ends,
/// `TYPE.done` or an `error` with its id; `{"type": "cancel", "id": "t1"}` ends it early (`cancelled`).
/// A socket runs a few at once, each in a task of its own.
package protocol SocketOperation: Sendable {
    /// The type of the message that starts it.
    var type: String { get }
    /// The scope the caller's credentials need for it (with authentication off, anyone may).
    var scope: Scope { get }
    /// Does what `message` asks as the socket's caller (`context`: the handshake's, with the caller's
    /// identity as the store has it when the operation starts), sending what it
    /// has to say through `reply`; throws an `APIError` for what it refuses. Cancelled when the client
    /// cancels it or leaves.
    func run(_ message: [String: JSONValue], context: ConduitRequestContext, reply: @escaping SocketReply) async throws
}

/// Sends one reply of a running operation: `kind` names it (`chunk` becomes `TYPE.chunk`), `fields` are
/// the message's other fields.
package typealias SocketReply = @Sendable (_ kind: String, _ fields: [String: JSONValue]) async throws -> Void
