import ConduitCore

/// OpenAI's chat completion request, as Conduit sends it upstream.
package struct ChatCompletionRequest: Encodable, Sendable, Equatable {
    package struct Message: Codable, Sendable, Equatable {
        package var role: String
        package var content: String

        package init(role: String, content: String) {
            self.role = role
            self.content = content
        }
    }

    /// Structured output: the answer is a JSON object that `schema` accepts.
    package struct ResponseFormat: Encodable, Sendable, Equatable {
        package struct Schema: Encodable, Sendable, Equatable {
            package var name: String
            package var strict: Bool
            package var schema: JSONValue
        }

        package var type = "json_schema"
        package var jsonSchema: Schema

        package init(name: String, schema: JSONValue) {
            jsonSchema = Schema(name: name, strict: true, schema: schema)
        }

        // Spelled out: a key strategy would rename the schema's own keys (`additionalProperties`) too.
        enum CodingKeys: String, CodingKey {
            case type
            case jsonSchema = "json_schema"
        }
    }

    package var model: String
    package var messages: [Message]
    package var temperature: Double?
    package var maxTokens: Int?
    package var responseFormat: ResponseFormat?

    package init(
        model: String, messages: [Message], temperature: Double? = nil, maxTokens: Int? = nil, responseFormat: ResponseFormat? = nil
    ) {
        self.model = model
        self.messages = messages
        self.temperature = temperature
        self.maxTokens = maxTokens
        self.responseFormat = responseFormat
    }

    enum CodingKeys: String, CodingKey {
        case model, messages, temperature
        case maxTokens = "max_tokens"
        case responseFormat = "response_format"
    }
}

/// The parts of an upstream's answer Conduit reads: the first choice's text and the token counts.
struct ChatCompletionResponse: Decodable {
    struct Choice: Decodable {
        struct Message: Decodable {
            var content: String?
        }

        var message: Message?
    }

    struct Usage: Decodable {
        var promptTokens: Int
        var completionTokens: Int

        enum CodingKeys: String, CodingKey {
            case promptTokens = "prompt_tokens"
            case completionTokens = "completion_tokens"
        }

        /// Counts from elsewhere feed counters that must not go down or overflow: a count that is missing,
        /// not a whole number, negative or absurd is read as 0 or capped.
        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            func count(_ key: CodingKeys) -> Int { min(max((try? container.decode(Int.self, forKey: key)) ?? 0, 0), 10_000_000) }
            promptTokens = count(.promptTokens)
            completionTokens = count(.completionTokens)
        }
    }

    var choices: [Choice]
    var usage: Usage?

    /// Usage that is not an object counts as none: the answer itself is still good.
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        choices = try container.decode([Choice].self, forKey: .choices)
        usage = try? container.decode(Usage.self, forKey: .usage)
    }

    enum CodingKeys: String, CodingKey { case choices, usage }
}

/// An upstream's error answer: only its code goes on (the message may quote the operator's key).
struct ChatCompletionErrorResponse: Decodable {
    struct Detail: Decodable {
        var code: String?
        var type: String?
    }

    var error: Detail?
}
