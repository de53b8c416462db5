import ConduitCore
import Crypto
import Foundation
import Store

/// An agent as its file (`agents.dir/NAME.yaml`) declares it: what it is for, the requests that should
/// reach it (its utterances, which the router compares a request with), the chat model it calls, its
/// system prompt over the domain's variables, the parameters of its calls, the shape of its output and
/// the specification sections it writes.
///
/// The file as read is the agent's content: a change to it makes a new version (`AgentVersions`), and
/// a session keeps the versions it started with.
package struct AgentDefinition: Sendable, Equatable {
    package enum Output: Sendable, Equatable {
        case text
        /// A JSON object of this schema (response_format json_schema).
        case jsonSchema(name: String, schema: JSONValue)
    }

    package let name: String
    package let description: String
    package let responsibilities: [String]
    /// Requests that belong to this agent, for the router.
    package let utterances: [String]
    /// A chat model the gateway serves.
    package let model: String
    let systemPrompt: PromptTemplate
    /// Passed into each call as they are: temperature, max_tokens…
    package let parameters: [String: JSONValue]
    package let output: Output
    /// The specification sections its answers fill.
    package let produces: [String]
    /// The similarity below which the router will not choose it; the domain's when nil.
    package let threshold: Double?
    /// The file as read (its keys, its values).
    package let declaration: [String: JSONValue]
    /// SHA-256 of the declaration's canonical JSON: equal contents, equal hashes, however the file is laid out.
    package let contentHash: String

    static let keys: Set<String> = [
        "description", "responsibilities", "utterances", "model", "system_prompt", "parameters", "output", "produces", "threshold",
    ]
    /// The call parameters an agent may set; the rest of a call (messages, stream) is the turn's.
    static let parameterKeys: Set<String> = ["temperature", "top_p", "max_tokens", "seed", "presence_penalty", "frequency_penalty", "stop"]
    /// Most utterances of one agent: each is embedded and compared with every request.
    static let maximumUtterances = 200

    /// Reads an agent's declaration; errors name `file` and the key.
    package init(name: String, declaration: [String: JSONValue], file: String) throws {
        let reader = DeclarationReader(file: file, subject: "an agent")
        try reader.only(Self.keys, in: declaration)
        func required(_ key: String) throws -> JSONValue {
            guard let value = declaration[key] else { throw reader.problem(key, "is required") }
            return value
        }
        self.name = name
        description = try reader.text(try required("description"), "description")
        responsibilities = try declaration["responsibilities"].map { try reader.texts($0, "responsibilities") } ?? []
        utterances = try reader.texts(try required("utterances"), "utterances")
        guard (1...Self.maximumUtterances).contains(utterances.count) else {
            throw reader.problem("utterances", "takes 1 to \(Self.maximumUtterances) example requests, the router's measure of the agent")
        }
        model = try reader.text(try required("model"), "model")
        do {
            systemPrompt = try PromptTemplate(try reader.text(try required("system_prompt"), "system_prompt"))
        } catch let error as TemplateError {
            throw reader.problem("system_prompt", "is not a template: \(error.reason)")
        }
        parameters = try declaration["parameters"].map { try Self.parameters($0, reader: reader) } ?? [:]
        output = try declaration["output"].map { try Self.output($0, reader: reader) } ?? .text
        produces =
            try declaration["produces"].map { value in
                try reader.texts(value, "produces").map { section in
                    guard DeclaredName.isValid(section) else {
                        throw reader.problem("produces", "names sections: 1 to 64 lowercase letters, digits, '_' or '-'")
                    }
                    return section
                }
            } ?? []
        threshold = try declaration["threshold"].map { try reader.number($0, "threshold", -1...1) }
        self.declaration = declaration
        contentHash = SHA256.hash(data: try JSONValue.object(declaration).canonicalJSON()).hexadecimal
    }

    /// A call's parameters, at `key` of a file (an agent's `parameters`, a domain's override of them).
    static func parameters(_ value: JSONValue, reader: DeclarationReader, key: String = "parameters") throws -> [String: JSONValue] {
        let parameters = try reader.object(value, key)
        try reader.only(parameterKeys, in: parameters, at: key)
        if let temperature = parameters["temperature"] { _ = try reader.number(temperature, "\(key).temperature", 0...2) }
        if let topP = parameters["top_p"] { _ = try reader.number(topP, "\(key).top_p", 0...1) }
        if let maxTokens = parameters["max_tokens"] { _ = try reader.integer(maxTokens, "\(key).max_tokens", 1...1_000_000) }
        for penalty in ["presence_penalty", "frequency_penalty"] {
            if let value = parameters[penalty] { _ = try reader.number(value, "\(key).\(penalty)", -2...2) }
        }
        if let seed = parameters["seed"] { _ = try reader.integer(seed, "\(key).seed", Int(Int32.min)...Int(Int32.max)) }
        return parameters
    }

    private static func output(_ value: JSONValue, reader: DeclarationReader) throws -> Output {
        if case .string("text") = value { return .text }
        guard case .object(let output) = value, case .object(let schema)? = output["json_schema"] else {
            throw reader.problem("output", "takes text, or json_schema: {name, schema}")
        }
        try reader.only(["json_schema"], in: output, at: "output")
        try reader.only(["name", "schema"], in: schema, at: "output.json_schema")
        guard let name = schema["name"], let body = schema["schema"], case .object = body else {
            throw reader.problem("output.json_schema", "takes a name and a schema (a JSON Schema object)")
        }
        return .jsonSchema(name: try reader.name(name, "output.json_schema.name"), schema: body)
    }

    /// The prompt for a project of a domain: the domain's variables, then the project's and the domain's own.
    package func prompt(variables: [String: String]) -> String { systemPrompt.render(variables) }
    /// The variables its prompt names.
    package var promptVariables: [String] { systemPrompt.variables }
}
