import ConduitCore
import Foundation
import NIOCore

/// Anthropic's Messages API, spoken for a client of OpenAI's chat completions: the request translated
/// one way (system messages, content parts, tools and tool results, stop sequences), the answer and its
/// stream the other (text, tool calls, finish reasons, usage).
enum AnthropicMessages {
    static let version = "2023-06-01"
    /// Anthropic requires `max_tokens`; a client of OpenAI's API may leave it out.
    static let defaultMaxTokens = 4096

    /// The Messages API request for `fields` (an OpenAI chat completion request), for `model` there.
    static func request(_ fields: [String: JSONValue], model: String) throws -> ByteBuffer {
        var system: [String] = []
        var messages: [(role: String, blocks: [JSONValue])] = []
        func append(_ role: String, _ blocks: [JSONValue]) {
            guard !blocks.isEmpty else { return }
            // The API wants the roles to alternate: consecutive messages of one role become one.
            if messages.last?.role == role { messages[messages.count - 1].blocks += blocks } else { messages.append((role, blocks)) }
        }
        for message in fields["messages"]?.arrayValue ?? [] {
            let message = message.objectValue ?? [:]
            let content = message["content"] ?? .null
            switch message["role"]?.stringValue ?? "" {
            case "system", "developer":
                system.append(text(of: content))
            case "assistant":
                let calls = (message["tool_calls"]?.arrayValue ?? []).compactMap { call -> JSONValue? in
                    guard let call = call.objectValue, let function = call["function"]?.objectValue else { return nil }
                    let arguments = function["arguments"]?.stringValue ?? "{}"
                    let input = (try? JSONDecoder().decode(JSONValue.self, from: Data(arguments.utf8))) ?? [:]
                    return [
                        "type": "tool_use", "id": call["id"] ?? .string(UUID().uuidString), "name": function["name"] ?? "", "input": input,
                    ]
                }
                append("assistant", blocks(of: content) + calls)
            case "tool", "function":
                append(
                    "user",
                    [
                        [
                            "type": "tool_result", "tool_use_id": message["tool_call_id"] ?? message["name"] ?? "",
                            "content": .string(text(of: content)),
                        ]
                    ])
            default:
                append("user", blocks(of: content))
            }
        }
        var body: [String: JSONValue] = [
            "model": .string(model),
            "messages": .array(messages.map { ["role": .string($0.role), "content": .array($0.blocks)] }),
            // The first of the two the client set (an explicit null is not setting one).
            "max_tokens": [fields["max_completion_tokens"], fields["max_tokens"]].compactMap { $0 }.first { $0 != .null }
                ?? .integer(Int64(defaultMaxTokens)),
        ]
        if !system.isEmpty { body["system"] = .string(system.joined(separator: "\n\n")) }
        for name in ["top_p", "stream"] where fields[name] != nil && fields[name] != .null { body[name] = fields[name] }
        // OpenAI's temperature runs to 2, Anthropic's to 1.
        switch fields["temperature"] {
        case .integer(let value)?: body["temperature"] = .number(min(Double(value), 1))
        case .number(let value)?: body["temperature"] = .number(min(value, 1))
        default: break
        }
        switch fields["stop"] {
        case .string(let stop)?: body["stop_sequences"] = [.string(stop)]
        case .array(let stops)?: body["stop_sequences"] = .array(stops)
        default: break
        }
        if let tools = fields["tools"]?.arrayValue {
            body["tools"] = .array(
                tools.compactMap { tool in
                    guard let function = tool.objectValue?["function"]?.objectValue else { return nil }
                    var translated: [String: JSONValue] = [
                        "name": function["name"] ?? "", "input_schema": function["parameters"] ?? ["type": "object"],
                    ]
                    if let description = function["description"] { translated["description"] = description }
                    return .object(translated)
                })
        }
        switch fields["tool_choice"] {
        case .string("auto")?: body["tool_choice"] = ["type": "auto"]
        case .string("required")?: body["tool_choice"] = ["type": "any"]
        case .string("none")?: body["tool_choice"] = ["type": "none"]
        case .object(let choice)?:
            if let name = choice["function"]?.objectValue?["name"] { body["tool_choice"] = ["type": "tool", "name": name] }
        default: break
        }
        if let user = fields["user"]?.stringValue { body["metadata"] = ["user_id": .string(user)] }
        return ByteBuffer(bytes: try JSONEncoder().encode(body))
    }

    /// The text of a message's content: a string, or its text parts joined.
    private static func text(of content: JSONValue) -> String {
        switch content {
        case .string(let text): text
        case .array(let parts): parts.compactMap { $0.objectValue?["text"]?.stringValue }.joined(separator: "\n")
        default: ""
        }
    }

    /// A message's content as content blocks: text, and images by URL or inline (a `data:` URL).
    private static func blocks(of content: JSONValue) -> [JSONValue] {
        switch content {
        case .string(let text):
            return text.isEmpty ? [] : [["type": "text", "text": .string(text)]]
        case .array(let parts):
            return parts.compactMap { part in
                guard let part = part.objectValue else { return nil }
                if let text = part["text"]?.stringValue { return text.isEmpty ? nil : ["type": "text", "text": .string(text)] }
                guard let url = part["image_url"]?.objectValue?["url"]?.stringValue else { return nil }
                if url.hasPrefix("data:"), let comma = url.firstIndex(of: ",") {
                    let mediaType = url[url.index(url.startIndex, offsetBy: 5)..<comma].replacingOccurrences(of: ";base64", with: "")
                    return [
                        "type": "image",
                        "source": [
                            "type": "base64", "media_type": .string(mediaType), "data": .string(String(url[url.index(after: comma)...])),
                        ],
                    ]
                }
                return ["type": "image", "source": ["type": "url", "url": .string(url)]]
            }
        default:
            return []
        }
    }

    /// An answer of the Messages API as an OpenAI chat completion, with its usage.
    static func completion(from body: ByteBuffer) throws -> (ByteBuffer, TokenUsage) {
        guard let message = try? JSONDecoder().decode(Message.self, from: Data(body.readableBytesView)) else {
            throw AttemptFailure.malformed("not an Anthropic message")
        }
        let text = message.content.compactMap(\.text).joined()
        let calls = message.content.enumerated().compactMap { _, block -> JSONValue? in
            guard block.type == "tool_use" else { return nil }
            let arguments = (try? JSONEncoder().encode(block.input ?? [:])).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
            return [
                "id": .string(block.id ?? ""), "type": "function",
                "function": ["name": .string(block.name ?? ""), "arguments": .string(arguments)],
            ]
        }
        var reply: [String: JSONValue] = ["role": "assistant", "content": calls.isEmpty || !text.isEmpty ? .string(text) : .null]
        if !calls.isEmpty { reply["tool_calls"] = .array(calls) }
        let usage = TokenUsage(promptTokens: message.usage?.inputTokens ?? 0, completionTokens: message.usage?.outputTokens ?? 0)
        let completion: JSONValue = [
            "id": .string(message.id), "object": "chat.completion", "created": .integer(Int64(Date().timeIntervalSince1970)),
            "model": .string(message.model ?? ""),
            "choices": [["index": 0, "message": .object(reply), "finish_reason": .string(finishReason(message.stopReason))]],
            "usage": usageJSON(usage),
        ]
        return (ByteBuffer(bytes: try JSONEncoder().encode(completion)), usage)
    }

    static func finishReason(_ stopReason: String?) -> String {
        switch stopReason {
        case "max_tokens": "length"
        case "tool_use": "tool_calls"
        case "refusal": "content_filter"
        default: "stop"
        }
    }

    static func usageJSON(_ usage: TokenUsage) -> JSONValue {
        [
            "prompt_tokens": .integer(Int64(usage.promptTokens)), "completion_tokens": .integer(Int64(usage.completionTokens)),
            "total_tokens": .integer(Int64(usage.total)),
        ]
    }

    private struct Message: Decodable {
        struct Block: Decodable {
            var type: String
            var text: String?
            var id: String?
            var name: String?
            var input: JSONValue?
        }

        struct Usage: Decodable {
            var inputTokens: Int?
            var outputTokens: Int?

            enum CodingKeys: String, CodingKey {
                case inputTokens = "input_tokens"
                case outputTokens = "output_tokens"
            }
        }

        var id: String
        var model: String?
        var content: [Block]
        var stopReason: String?
        var usage: Usage?

        enum CodingKeys: String, CodingKey {
            case id, model, content, usage
            case stopReason = "stop_reason"
        }
    }
}
