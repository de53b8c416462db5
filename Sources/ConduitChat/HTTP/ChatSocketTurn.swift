import ConduitCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Store
import Synchronization

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
        guard case .object(var request)? = message["request"] else {
            throw APIError.invalidRequest("request must be a chat completion request (an object)", param: "request", code: "invalid_value")
        }
        // A turn over a socket is a stream, whatever the request says.
        request["stream"] = true
        let response = try await controller.serve(context: context, cacheControl: "") { request }
        let interruption = Interruption()
        try await response.body.write(Relay(reply: reply, interruption: interruption))
        if let error = interruption.error { throw error }
    }

    /// The error the stream ended with, as the route writes it into the stream after the chunks.
    private final class Interruption: Sendable {
        private let state = Mutex<APIError?>(nil)
        var error: APIError? { state.withLock { $0 } }
        func record(_ error: APIError) { state.withLock { $0 = error } }
    }

    /// Turns the server-sent events the route would write into the socket's messages.
    private struct Relay: ResponseBodyWriter {
        let reply: SocketReply
        let interruption: Interruption
        var splitter = EventSplitter()

        mutating func write(_ buffer: ByteBuffer) async throws {
            for event in splitter.events(after: buffer) {
                guard let payload = EventSplitter.data(of: event.readableBytesView), !payload.elementsEqual("[DONE]".utf8),
                    case .object(let object)? = try? StrictJSON.parse(payload)
                else { continue }
                if case .object(let error)? = object["error"] {
                    interruption.record(
                        APIError(
                            status: .badGateway, message: error["message"]?.stringValue ?? "the provider's stream broke off",
                            type: error["type"]?.stringValue ?? "upstream_error", code: error["code"]?.stringValue))
                } else {
                    try await reply("chunk", ["chunk": .object(object)])
                }
            }
        }

        consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }
}
