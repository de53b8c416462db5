import ConduitCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Store

/// A chat turn over the event WebSocket (`GET /v1/ws`): `{"type": "chat", "id": "t1", "request": {…}}`
/// with a chat completion request. It is served as `POST /v1/chat/completions` serves a stream (the same
/// admission, limits, routing, retries and metering), and its answer comes back message by message as
/// the provider sends it: `chat.chunk` (`"chunk"`: OpenAI's chunk object), then `chat.done` (the socket
/// sends it), or an `error` with the turn's id (refused, or the provider broke off). `{"type": "cancel",
/// "id": "t1"}` stops it, and the provider's call with it.
struct ChatSocketTurn: SocketOperation {
    let controller: ChatCompletionsController

    var type: String { "chat" }
    var scope: Scope { .chat }

    func run(_ message: [String: JSONValue], context: ConduitRequestContext, reply: @escaping SocketReply) async throws {
        guard case .object(let request)? = message["request"] else {
            throw APIError.invalidRequest("request must be a chat completion request (an object)", param: "request", code: "invalid_value")
        }
        // A turn over a socket is a stream, whatever the request says.
        _ = try await controller.stream(request, context: context, countingUsage: false) { chunk in
            try await reply("chunk", ["chunk": .object(chunk)])
        }
    }
}
