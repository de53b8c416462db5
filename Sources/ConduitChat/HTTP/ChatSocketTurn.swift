import ConduitCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Store

/// A chat turn over the event WebSocket (`GET /v1/ws`): `{"type": "chat", "id": "t1", "request": {…}}`
/// with a chat completion request. It is served as `POST /v1/chat/completions` serves a stream (the same
/// admission, limits, routing, retries and metering), and its answer comes back message by message as
/// the provider sends it: `chat.chunk` (`"chunk"`: OpenAI's chunk object), then `chat.done`; a stream the
/// provider breaks off ends with `chat.error` (`"error"`: the API's error object). `{"type": "cancel",
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
        try await response.body.write(Relay(reply: reply))
    }

    /// Turns the server-sent events the route would write into the socket's messages.
    private struct Relay: ResponseBodyWriter {
        let reply: SocketReply
        var splitter = EventSplitter()

        mutating func write(_ buffer: ByteBuffer) async throws {
            for event in splitter.events(after: buffer) {
                guard let payload = Self.data(of: event) else { continue }
                if payload == Self.done {
                    try await reply("done", [:])
                } else if case .object(let object)? = try? JSONDecoder().decode(JSONValue.self, from: payload) {
                    if let error = object["error"] {
                        try await reply("error", ["error": error])
                    } else {
                        try await reply("chunk", ["chunk": .object(object)])
                    }
                }
            }
        }

        consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}

        /// The payload of an event: its `data:` lines joined, as a browser's EventSource joins them; nil
        /// for an event without any (a comment).
        private static func data(of event: ByteBuffer) -> Data? {
            let lines = String(buffer: event).split(omittingEmptySubsequences: true, whereSeparator: \.isNewline)
            let data = lines.filter { $0.hasPrefix("data:") }.map { line in
                let value = line.dropFirst(5)
                return value.first == " " ? value.dropFirst() : value
            }
            return data.isEmpty ? nil : Data(data.joined(separator: "\n").utf8)
        }

        private static let done = Data("[DONE]".utf8)
    }
}
