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
