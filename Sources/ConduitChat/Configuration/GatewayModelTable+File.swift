import ConduitCore
import Foundation
import Yams

extension GatewayModelTable {
    /// Reads `chat.models_file`:
    ///
    /// ```yaml
    /// models:
    ///   - name: gpt-4o
    ///     aliases: [gpt4]
    ///     routing: least_outstanding        # weighted (default), least_outstanding, lowest_latency
    ///     fallbacks: [gpt-4o-mini]
    ///     semantic_cache_threshold: 0.95     # opt-in; needs chat.cache_ttl_seconds and a local model
    ///     deployments:
    ///       - name: openai-east             # default gpt-4o/1
    ///         base_url: https://api.openai.com/v1
    ///         api_key_env: OPENAI_API_KEY   # or api_key_file: /run/secrets/openai
    ///         model: gpt-4o-2024-08-06
    ///         weight: 2
    ///         max_concurrent: 64
    ///         timeout_seconds: 60
    ///         input_price_per_million: 2.5
    ///         output_price_per_million: 10
    ///         context_window: 128000
    ///   - name: embed
    ///     kind: embedding                   # chat (default) or embedding
    ///     fallbacks: [openai-embed]
    ///     deployments:
    ///       - provider: local               # a model this node serves itself
    ///         model: all-MiniLM-L6-v2
    /// ```
    ///
    /// Keys come from the environment (`environment`) or a file, never from the models file itself, which
    /// is often kept in version control.
    public static func load(from file: URL, environment: [String: String]) throws -> GatewayModelTable {
        guard let data = FileManager.default.contents(atPath: file.path) else {
            throw ConfigurationError("chat.models_file: cannot read \(file.path)")
        }
        return try parse(String(decoding: data, as: UTF8.self), file: file.path, environment: environment)
    }

    package static func parse(_ yaml: String, file: String, environment: [String: String]) throws -> GatewayModelTable {
        let reader = YAMLReader(file: file, subject: "the models file")
        guard let root = try YAMLReader.root(of: yaml, file: file)?.mapping else {
            throw ConfigurationError("\(file) must be a mapping with the key models")
        }
        var models: [GatewayModel] = []
        try reader.each(root, section: "") { key, node in
            guard key == "models" else { return false }
            guard let sequence = node.sequence else { throw reader.problem(key, "takes a list of models") }
            for (index, entry) in sequence.enumerated() {
                models.append(try model(entry, key: "models[\(index)]", reader: reader.with(subject: "a model"), environment: environment))
            }
            return true
        }
        return try GatewayModelTable(models)
    }

    private static func model(_ node: Node, key: String, reader: YAMLReader, environment: [String: String]) throws -> GatewayModel {
        var model = GatewayModel(name: "", deployments: [])
        var deployments: [Node] = []
        try reader.each(try reader.section(node, key), section: key) { key, node in
            switch key.split(separator: ".").last ?? "" {
            case "name": model.name = try reader.text(node, key)
            case "kind": model.kind = try reader.choice(node, key)
            case "aliases": model.aliases = try reader.list(node, key)
            case "routing": model.routing = try reader.choice(node, key)
            case "fallbacks": model.fallbacks = try reader.list(node, key)
            case "semantic_cache_threshold": model.semanticCacheThreshold = try reader.number(node, key, 0.5...1)
            case "deployments":
                guard let sequence = node.sequence, !sequence.isEmpty else { throw reader.problem(key, "takes a list of deployments") }
                deployments = Array(sequence)
            default: return false
            }
            return true
        }
        guard !model.name.isEmpty else { throw reader.problem(key, "needs a name") }
        guard !deployments.isEmpty else { throw reader.problem(key, "needs deployments") }
        if model.kind == .embedding, model.semanticCacheThreshold != nil {
            throw reader.problem("\(key).semantic_cache_threshold", "is for chat models: embeddings are not cached")
        }
        model.deployments = try deployments.enumerated().map { index, node in
            try deployment(
                node, key: "\(key).deployments[\(index)]", defaultID: "\(model.name)/\(index + 1)",
                reader: reader.with(subject: "a deployment"), environment: environment)
        }
        return model
    }

    private static func deployment(
        _ node: Node, key: String, defaultID: String, reader: YAMLReader, environment: [String: String]
    ) throws -> GatewayDeployment {
        var id = defaultID
        var provider = GatewayDeployment.Provider.openai
        var baseURL: URL?
        var apiKey: String?
        var model: String?
        var deployment = GatewayDeployment(id: "", baseURL: URL(filePath: "/"), model: "")
        try reader.each(try reader.section(node, key), section: key) { key, node in
            switch key.split(separator: ".").last ?? "" {
            case "name": id = try reader.text(node, key)
            case "provider": provider = try reader.choice(node, key)
            case "base_url":
                guard let url = SettingValues.httpURL(try reader.text(node, key)) else { throw reader.problem(key, "takes an http(s) URL") }
                baseURL = url
            case "api_key_env":
                let variable = try reader.text(node, key)
                guard let value = environment[variable], !value.isEmpty else {
                    throw reader.problem(key, "names the environment variable \(variable), which is not set")
                }
                apiKey = value
            case "api_key_file":
                let path = try reader.text(node, key)
                guard let value = SettingValues.secretFile(path), !value.isEmpty else {
                    throw reader.problem(key, "names \(path), which cannot be read")
                }
                apiKey = value
            case "api_key":
                throw reader.problem(
                    key, "is not read from the models file, which is often kept in version control: use api_key_env or api_key_file")
            case "model": model = try reader.text(node, key)
            case "weight": deployment.weight = try reader.integer(node, key, 1...1_000_000)
            case "max_concurrent": deployment.maxConcurrent = try reader.integer(node, key, 1...1_000_000)
            case "timeout_seconds": deployment.timeout = .milliseconds(Int(try reader.number(node, key, 0.001...86_400) * 1000))
            case "input_price_per_million": deployment.inputPricePerMillion = try reader.number(node, key, 0...1_000_000)
            case "output_price_per_million": deployment.outputPricePerMillion = try reader.number(node, key, 0...1_000_000)
            case "context_window": deployment.contextWindow = try reader.integer(node, key, 1...100_000_000)
            default: return false
            }
            return true
        }
        if provider == .local {
            guard baseURL == nil, apiKey == nil else { throw reader.problem(key, "is local: it takes no base_url and no key") }
            baseURL = GatewayDeployment.inProcess
        }
        guard let baseURL else { throw reader.problem(key, "needs a base_url") }
        guard let model else { throw reader.problem(key, "needs the model's name at the provider (model)") }
        deployment.id = id
        deployment.provider = provider
        deployment.baseURL = baseURL
        deployment.apiKey = apiKey
        deployment.model = model
        return deployment
    }
}

extension YAMLReader {
    fileprivate func with(subject: String) -> YAMLReader { YAMLReader(file: file, subject: subject) }

    /// One of an enumeration's raw values.
    fileprivate func choice<Value: RawRepresentable & CaseIterable>(_ node: Node, _ key: String) throws -> Value
    where Value.RawValue == String {
        let text = try text(node, key)
        guard let value = Value(rawValue: text) else {
            throw problem(key, "takes one of \(Value.allCases.map(\.rawValue).joined(separator: ", ")), not '\(text)'")
        }
        return value
    }
}
