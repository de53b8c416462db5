import ConduitCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// Plays OpenAI-compatible providers for the chat gateway's tests, one per path prefix (a deployment's
/// base URL is `http://127.0.0.1:PORT/NAME/v1`), each misbehaving as its script says, then answering.
final class FakeProvider: Sendable {
    enum Behaviour: Sendable {
        /// 200 with a completion of `content` (a stream of it, word by word, when asked for one).
        case answer(String)
        /// `status` with `body` and `headers`.
        case status(
            Int, body: String = #"{"error":{"message":"failed","type":"server_error","code":"boom"}}"#, headers: [String: String] = [:])
        /// `answer`, after `delay`.
        case delayed(Duration, String)
        /// 200 with a body that is not JSON.
        case invalidJSON
        /// A stream whose first chunk comes at once and the rest once the test calls `release()`.
        case heldAfterFirst(String)
        /// `answer`, once the test calls `release()`.
        case held(String)
        /// A stream that breaks off after its first chunk, its connection closed.
        case resetMidStream
        /// A stream that sends a chunk every 50 ms and never ends.
        case endless
        /// 200 with `bytes` bytes of JSON.
        case huge(bytes: Int)
    }

    struct Call: Sendable {
        var deployment: String
        var body: [String: JSONValue]
        /// `Authorization`, or Anthropic's `x-api-key`.
        var authorization: String?
        /// Anthropic's `anthropic-version`.
        var version: String? = nil
    }

    private let state = Mutex<(scripts: [String: [Behaviour]], calls: [Call], endedStreams: Int, released: Bool, heldTooLong: Bool)>(
        ([:], [], 0, false, false))

    /// What `deployment` does to its next calls, one behaviour a call; then it answers "hello there".
    func script(_ deployment: String, _ behaviours: [Behaviour]) { state.withLock { $0.scripts[deployment] = behaviours } }

    var calls: [Call] { state.withLock { $0.calls } }
    func calls(to deployment: String) -> [Call] { calls.filter { $0.deployment == deployment } }
    /// Lets held answers go on.
    func release() { state.withLock { $0.released = true } }

    /// Whether a held answer gave up waiting for `release()` (after 30 s, so that a test never hangs).
    var heldTooLong: Bool { state.withLock { $0.heldTooLong } }

    /// Waits for `release()`, whatever the machine's load: what is held is held by the test, not by time.
    private func waitForRelease() async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while !state.withLock({ $0.released }) {
            guard ContinuousClock.now < deadline else {
                state.withLock { $0.heldTooLong = true }
                return
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
    /// Streams that stopped because the gateway went away.
    var abandonedStreams: Int { state.withLock { $0.endedStreams } }

    func application() -> some ApplicationProtocol {
        let router = Router()
        router.post("/{deployment}/v1/chat/completions") { request, context -> Response in
            let deployment = try context.parameters.require("deployment")
            let data = Data(try await request.body.collect(upTo: 1 << 22).readableBytesView)
            let body = try JSONDecoder().decode([String: JSONValue].self, from: data)
            let behaviour = self.state.withLock { state -> Behaviour in
                state.calls.append(Call(deployment: deployment, body: body, authorization: request.headers[.authorization]))
                return state.scripts[deployment]?.isEmpty == false ? state.scripts[deployment]!.removeFirst() : .answer("hello there")
            }
            let stream = body["stream"] == .bool(true)
            let includeUsage = body["stream_options"]?.objectValue?["include_usage"] == .bool(true)
            let model = body["model"]?.stringValue ?? ""
            switch behaviour {
            case .answer(let content):
                return stream ? self.stream(content, model: model, usage: includeUsage) : Self.completion(content, model: model)
            case .status(let status, let text, let headers):
                var fields: HTTPFields = [.contentType: "application/json"]
                for (name, value) in headers { fields[HTTPField.Name(name)!] = value }
                return Response(status: .init(code: status), headers: fields, body: .init(byteBuffer: ByteBuffer(string: text)))
            case .delayed(let delay, let content):
                try await Task.sleep(for: delay)
                return stream ? self.stream(content, model: model, usage: includeUsage) : Self.completion(content, model: model)
            case .invalidJSON:
                return Response(
                    status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "<html>oops")))
            case .heldAfterFirst(let content):
                return self.stream(content, model: model, usage: includeUsage, holdingAfterFirst: true)
            case .held(let content):
                try await self.waitForRelease()
                return stream ? self.stream(content, model: model, usage: includeUsage) : Self.completion(content, model: model)
            case .resetMidStream:
                return Response(
                    status: .ok, headers: [.contentType: "text/event-stream"],
                    body: ResponseBody { writer in
                        try await writer.write(Self.event(Self.chunk(model: model, content: "partial")))
                        throw CancellationError()
                    })
            case .endless:
                return Response(
                    status: .ok, headers: [.contentType: "text/event-stream"],
                    body: ResponseBody { writer in
                        do {
                            while true {
                                try await writer.write(Self.event(Self.chunk(model: model, content: "more ")))
                                try await Task.sleep(for: .milliseconds(50))
                            }
                        } catch {
                            self.state.withLock { $0.endedStreams += 1 }
                            throw error
                        }
                    })
            case .huge(let bytes):
                let content = String(repeating: "x", count: bytes)
                return Self.completion(content, model: model)
            }
        }
        // OpenAI's embeddings: a vector [index, 0.5, deployment's name length] per input, 7 tokens each.
        router.post("/{deployment}/v1/embeddings") { request, context -> Response in
            let deployment = try context.parameters.require("deployment")
            let data = Data(try await request.body.collect(upTo: 1 << 22).readableBytesView)
            let body = try JSONDecoder().decode([String: JSONValue].self, from: data)
            let behaviour = self.state.withLock { state -> Behaviour in
                state.calls.append(Call(deployment: deployment, body: body, authorization: request.headers[.authorization]))
                return state.scripts[deployment]?.isEmpty == false ? state.scripts[deployment]!.removeFirst() : .answer("")
            }
            if case .status(let status, let text, let headers) = behaviour {
                var fields: HTTPFields = [.contentType: "application/json"]
                for (name, value) in headers { fields[HTTPField.Name(name)!] = value }
                return Response(status: .init(code: status), headers: fields, body: .init(byteBuffer: ByteBuffer(string: text)))
            }
            let inputs = if case .array(let items)? = body["input"] { items.count } else { 1 }
            let answer: JSONValue = [
                "object": "list", "model": body["model"] ?? .null,
                "data": .array(
                    (0..<inputs).map { index in
                        [
                            "object": "embedding", "index": .integer(Int64(index)),
                            "embedding": [.integer(Int64(index)), 0.5, .integer(Int64(deployment.count))],
                        ]
                    }),
                "usage": ["prompt_tokens": .integer(Int64(7 * inputs)), "total_tokens": .integer(Int64(7 * inputs))],
            ]
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: try JSONEncoder().encode(answer))))
        }
        // Anthropic's Messages API: one answer, a text and a tool use, whole or as its stream of events.
        router.post("/{deployment}/v1/messages") { request, context -> Response in
            let deployment = try context.parameters.require("deployment")
            let data = Data(try await request.body.collect(upTo: 1 << 22).readableBytesView)
            let body = try JSONDecoder().decode([String: JSONValue].self, from: data)
            self.state.withLock {
                $0.calls.append(
                    Call(
                        deployment: deployment, body: body, authorization: request.headers[HTTPField.Name("x-api-key")!],
                        version: request.headers[HTTPField.Name("anthropic-version")!]))
            }
            guard body["stream"] == .bool(true) else {
                let message: JSONValue = [
                    "id": "msg_1", "type": "message", "role": "assistant", "model": body["model"] ?? "",
                    "content": [
                        ["type": "text", "text": "Let me look."],
                        ["type": "tool_use", "id": "toolu_1", "name": "lookup", "input": ["q": "tea"]],
                    ],
                    "stop_reason": "tool_use", "usage": ["input_tokens": 12, "output_tokens": 7],
                ]
                return Response(
                    status: .ok, headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(bytes: try JSONEncoder().encode(message))))
            }
            let events: [(String, JSONValue)] = [
                (
                    "message_start",
                    [
                        "type": "message_start",
                        "message": ["id": "msg_1", "model": body["model"] ?? "", "usage": ["input_tokens": 12, "output_tokens": 1]],
                    ]
                ),
                ("content_block_start", ["type": "content_block_start", "index": 0, "content_block": ["type": "text", "text": ""]]),
                ("ping", ["type": "ping"]),
                ("content_block_delta", ["type": "content_block_delta", "index": 0, "delta": ["type": "text_delta", "text": "Hel"]]),
                ("content_block_delta", ["type": "content_block_delta", "index": 0, "delta": ["type": "text_delta", "text": "lo"]]),
                ("content_block_stop", ["type": "content_block_stop", "index": 0]),
                (
                    "content_block_start",
                    [
                        "type": "content_block_start", "index": 1,
                        "content_block": ["type": "tool_use", "id": "toolu_1", "name": "lookup", "input": [:]],
                    ]
                ),
                (
                    "content_block_delta",
                    ["type": "content_block_delta", "index": 1, "delta": ["type": "input_json_delta", "partial_json": "{\"q\":"]]
                ),
                (
                    "content_block_delta",
                    ["type": "content_block_delta", "index": 1, "delta": ["type": "input_json_delta", "partial_json": "\"tea\"}"]]
                ),
                ("content_block_stop", ["type": "content_block_stop", "index": 1]),
                ("message_delta", ["type": "message_delta", "delta": ["stop_reason": "tool_use"], "usage": ["output_tokens": 7]]),
                ("message_stop", ["type": "message_stop"]),
            ]
            return Response(
                status: .ok, headers: [.contentType: "text/event-stream"],
                body: ResponseBody { writer in
                    for (name, data) in events {
                        var buffer = ByteBuffer(string: "event: \(name)\ndata: ")
                        buffer.writeBytes(try JSONEncoder().encode(data))
                        buffer.writeString("\n\n")
                        try await writer.write(buffer)
                    }
                    try await writer.finish(nil)
                })
        }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    }

    static func completion(_ content: String, model: String) -> Response {
        let answer: JSONValue = [
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": .string(model),
            "choices": [["index": 0, "message": ["role": "assistant", "content": .string(content)], "finish_reason": "stop"]],
            "usage": ["prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110],
        ]
        return Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: try! JSONEncoder().encode(answer))))
    }

    private func stream(_ content: String, model: String, usage: Bool, holdingAfterFirst: Bool = false) -> Response {
        Response(
            status: .ok, headers: [.contentType: "text/event-stream"],
            body: ResponseBody { writer in
                let words = content.split(separator: " ").map { String($0) + " " }
                for (index, word) in words.enumerated() {
                    try await writer.write(Self.event(Self.chunk(model: model, content: word)))
                    if index == 0 && holdingAfterFirst { try await self.waitForRelease() }
                }
                if usage {
                    let chunk: JSONValue = [
                        "id": "chatcmpl-1", "object": "chat.completion.chunk", "model": .string(model), "choices": [],
                        "usage": [
                            "prompt_tokens": 100, "completion_tokens": .integer(Int64(words.count)),
                            "total_tokens": .integer(Int64(100 + words.count)),
                        ],
                    ]
                    try await writer.write(Self.event(chunk))
                }
                try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                try await writer.finish(nil)
            })
    }

    static func chunk(model: String, content: String) -> JSONValue {
        [
            "id": "chatcmpl-1", "object": "chat.completion.chunk", "model": .string(model),
            "choices": [["index": 0, "delta": ["content": .string(content)]]],
        ]
    }

    static func event(_ value: JSONValue) -> ByteBuffer {
        var buffer = ByteBuffer(string: "data: ")
        buffer.writeBytes(try! JSONEncoder().encode(value))
        buffer.writeString("\n\n")
        return buffer
    }
}
