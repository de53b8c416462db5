import ConduitCore
import Foundation
import NIOCore

/// A client's `/v1/chat/completions` body: what the gateway checks and reads of it, and the rest kept as
/// it came (tools, response_format, n, seed, logprobs, and whatever a provider adds) to pass on untouched.
struct ChatCompletionRequest: Sendable {
    /// The body as the client sent it.
    var fields: [String: JSONValue]
    var model: String
    var stream: Bool
    /// The client asked for the usage chunk at the end of a stream.
    var includeUsage: Bool
    /// The client's `max_completion_tokens` or `max_tokens`.
    var maxTokens: Int?
    /// An estimate of the prompt's tokens: its text's UTF-8 bytes over 4, and 4 per message (for a context
    /// window: the provider's tokenizer is not at hand).
    var promptTokens: Int

    static let roles: Set<String> = ["system", "developer", "user", "assistant", "tool", "function"]

    init(_ fields: [String: JSONValue]) throws {
        self.fields = fields
        model = try Self.requiredModel(in: fields)
        guard case .array(let messages)? = fields["messages"], !messages.isEmpty else {
            throw APIError.invalidRequest("messages must be a non-empty list of messages", param: "messages", code: "invalid_value")
        }
        var promptBytes = 0
        for (index, message) in messages.enumerated() {
            guard case .object(let message) = message, case .string(let role)? = message["role"], Self.roles.contains(role) else {
                throw APIError.invalidRequest(
                    "messages[\(index)] must be an object whose role is one of \(Self.roles.sorted().joined(separator: ", "))",
                    param: "messages[\(index)].role", code: "invalid_value")
            }
            promptBytes += Self.contentBytes(message["content"] ?? .null) + Self.textBytes(message["tool_calls"] ?? .null) + 16
        }
        if let tools = fields["tools"] { promptBytes += Self.textBytes(tools) }
        promptTokens = promptBytes / 4
        switch fields["stream"] {
        case nil, .null?: stream = false
        case .bool(let value)?: stream = value
        default: throw APIError.invalidRequest("stream must be true or false", param: "stream", code: "invalid_value")
        }
        includeUsage = false
        if let options = fields["stream_options"], options != .null {
            guard stream else {
                throw APIError.invalidRequest(
                    "stream_options is only allowed when stream is true", param: "stream_options", code: "invalid_value")
            }
            guard case .object(let options) = options else {
                throw APIError.invalidRequest("stream_options must be an object", param: "stream_options", code: "invalid_value")
            }
            includeUsage = options["include_usage"] == .bool(true)
        }
        maxTokens = nil
        for name in ["max_completion_tokens", "max_tokens"] {
            switch fields[name] {
            case nil, .null?: continue
            case .integer(let value)? where value >= 1 && value <= 100_000_000: maxTokens = Int(value)
            default: throw APIError.invalidRequest("\(name) must be a positive integer", param: name, code: "invalid_value")
            }
            break
        }
        switch fields["n"] {
        case nil, .null?: break
        case .integer(let value)? where (1...128).contains(value): break
        default: throw APIError.invalidRequest("n must be an integer from 1 to 128", param: "n", code: "invalid_value")
        }
    }

    /// Tokens the call may take in all: the prompt, and the completion's bound when the client set one.
    var tokensNeeded: Int { promptTokens + (maxTokens ?? 0) }

    /// The body for `deployment`: its model's name there, and, for a stream, the usage chunk asked for
    /// (the gateway counts it, and passes it on only to a client that asked).
    func upstreamBody(model upstreamModel: String) -> ByteBuffer {
        var fields = self.fields
        fields["model"] = .string(upstreamModel)
        if stream && !includeUsage {
            var options = fields["stream_options"]?.objectValue ?? [:]
            options["include_usage"] = .bool(true)
            fields["stream_options"] = .object(options)
        }
        return JSONValue.object(fields).jsonText
    }

    /// The UTF-8 bytes of a message's text: its content, or its parts' `text` (an image's URL, often a
    /// whole image in base64, is not text the window counts as such).
    private static func contentBytes(_ value: JSONValue) -> Int {
        switch value {
        case .string(let text): text.utf8.count
        case .array(let parts): parts.reduce(0) { $0 + ($1.objectValue?["text"]?.stringValue?.utf8.count ?? 0) }
        default: 0
        }
    }

    /// The UTF-8 bytes of every string in `value` (tools' schemas, tool calls' arguments).
    private static func textBytes(_ value: JSONValue) -> Int {
        switch value {
        case .string(let text): text.utf8.count
        case .array(let parts): parts.reduce(0) { $0 + textBytes($1) }
        case .object(let object): object.values.reduce(0) { $0 + textBytes($1) }
        default: 0
        }
    }
}
