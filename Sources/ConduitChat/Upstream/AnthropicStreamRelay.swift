import ConduitCore
import Foundation
import NIOCore

/// A stream of Anthropic's Messages API as OpenAI's chat completion chunks: the message's start as the
/// assistant's first chunk, text and tool-use deltas as content and tool-call deltas, its stop reason as
/// the finish reason, and its usage as the usage chunk (for a client that asked), then `data: [DONE]`.
struct AnthropicStreamRelay: StreamRelay {
    let forwardsUsage: Bool
    private(set) var finished = false
    private(set) var contentBytes = 0
    private(set) var providerError: String?
    private var splitter = EventSplitter()
    private var id = ""
    private var model = ""
    private var promptTokens = 0
    private var completionTokens: Int?
    /// The OpenAI tool-call index of each content block that is a tool use.
    private var toolIndexByBlock: [Int: Int] = [:]
    private let created = Int64(Date().timeIntervalSince1970)

    init(forwardsUsage: Bool) { self.forwardsUsage = forwardsUsage }

    var usage: TokenUsage? { completionTokens.map { TokenUsage(promptTokens: promptTokens, completionTokens: $0) } }

    mutating func feed(_ chunk: ByteBuffer) -> ByteBuffer {
        var out = ByteBuffer()
        for event in splitter.events(after: chunk) {
            guard let data = EventSplitter.data(of: event.readableBytesView),
                let payload = (try? JSONDecoder().decode(JSONValue.self, from: Data(data)))?.objectValue
            else { continue }
            for translated in translate(payload) { out.writeImmutableBuffer(translated) }
        }
        return out
    }

    private mutating func translate(_ event: [String: JSONValue]) -> [ByteBuffer] {
        switch event["type"]?.stringValue {
        case "message_start":
            let message = event["message"]?.objectValue ?? [:]
            id = message["id"]?.stringValue ?? ""
            model = message["model"]?.stringValue ?? ""
            promptTokens = Self.count(message["usage"]?.objectValue?["input_tokens"])
            return [chunk(delta: ["role": "assistant", "content": ""])]
        case "content_block_start":
            guard let block = event["content_block"]?.objectValue, block["type"] == "tool_use" else { return [] }
            let index = toolIndexByBlock.count
            toolIndexByBlock[Self.count(event["index"])] = index
            return [
                chunk(delta: [
                    "tool_calls": [
                        [
                            "index": .integer(Int64(index)), "id": block["id"] ?? "", "type": "function",
                            "function": ["name": block["name"] ?? "", "arguments": ""],
                        ]
                    ]
                ])
            ]
        case "content_block_delta":
            let delta = event["delta"]?.objectValue ?? [:]
            if let text = delta["text"]?.stringValue {
                contentBytes += text.utf8.count
                return [chunk(delta: ["content": .string(text)])]
            }
            if let json = delta["partial_json"]?.stringValue, let index = toolIndexByBlock[Self.count(event["index"])] {
                return [chunk(delta: ["tool_calls": [["index": .integer(Int64(index)), "function": ["arguments": .string(json)]]]])]
            }
            return []
        case "message_delta":
            completionTokens = Self.count(event["usage"]?.objectValue?["output_tokens"])
            let reason = AnthropicMessages.finishReason(event["delta"]?.objectValue?["stop_reason"]?.stringValue)
            return [chunk(delta: [:], finishReason: reason)]
        case "message_stop":
            finished = true
            var events: [ByteBuffer] = []
            if forwardsUsage, let usage {
                events.append(
                    Self.event([
                        "id": .string(id), "object": "chat.completion.chunk", "created": .integer(created), "model": .string(model),
                        "choices": [], "usage": AnthropicMessages.usageJSON(usage),
                    ]))
            }
            events.append(EventSplitter.event("[DONE]".utf8))
            return events
        case "error":
            // Not passed on: the gateway says the stream broke off, with the error's type only.
            providerError = event["error"]?.objectValue?["type"]?.stringValue ?? "error"
            return []
        default:
            return []  // ping, content_block_stop
        }
    }

    private func chunk(delta: [String: JSONValue], finishReason: String? = nil) -> ByteBuffer {
        Self.event([
            "id": .string(id), "object": "chat.completion.chunk", "created": .integer(created), "model": .string(model),
            "choices": [["index": 0, "delta": .object(delta), "finish_reason": finishReason.map { .string($0) } ?? .null]],
        ])
    }

    private static func event(_ value: JSONValue) -> ByteBuffer {
        EventSplitter.event((try? JSONEncoder().encode(value)) ?? Data("{}".utf8))
    }

    private static func count(_ value: JSONValue?) -> Int {
        if case .integer(let count)? = value { return min(max(Int(count), 0), TokenUsage.largestCount) }
        return 0
    }
}
