import ConduitAgents
import ConduitChat
import ConduitCore
import ConduitEmbeddings
import ConduitInsights
import Configuration
import Foundation
import SystemPackage
import Yams

/// Where Conduit's configuration comes from, highest priority first: the command line, `CONDUIT_…`
/// environment variables, then `conduit.yaml`. Loading reads and checks every key, so the server
/// starts, or a reload applies, only a configuration that is whole and valid.
public struct ConfigurationSource: Sendable {
    /// The YAML file (`--config`); nil for none.
    public var file: String?
    public var environment: [String: String]
    /// Values given on the command line, by key.
    public var overrides: [String: [String]]

    public init(file: String?, environment: [String: String] = ProcessInfo.processInfo.environment, overrides: [String: [String]] = [:]) {
        self.file = file
        self.environment = environment
        self.overrides = overrides
    }

    /// A configuration read from every source and validated, with what deserves a warning.
    public struct Loaded: Sendable {
        public var configuration: ServerConfiguration
        /// Environment variables that look like settings but are none (a typo, most likely).
        public var warnings: [String]
    }

    /// Reads every key; throws `ConfigurationProblems` listing every key that is unknown or not allowed,
    /// then anything `ServerConfiguration.validate` refuses.
    public func load() async throws -> Loaded {
        var problems: [String] = []
        var providers: [any ConfigProvider] = []
        if !overrides.isEmpty {
            providers.append(
                InMemoryProvider(
                    name: "command line",
                    values: Dictionary(
                        uniqueKeysWithValues: overrides.compactMap { key, values in
                            ServerSetting.named(key).map { setting in
                                (
                                    AbsoluteConfigKey(ConfigKey(key).components),
                                    ConfigValue(
                                        setting.isList ? .stringArray(values) : .string(values.last ?? ""), isSecret: setting.isSecret)
                                )
                            }
                        })))
        }
        let secretVariables = Set(ServerSetting.all.filter(\.isSecret).map(\.environmentVariable))
        providers.append(
            EnvironmentVariablesProvider(environmentVariables: environment, secretsSpecifier: .specific(secretVariables))
                .prefixKeys(with: ["conduit"]))
        if let file {
            problems += unknownKeys(inFile: file)
            if problems.isEmpty {
                do {
                    providers.append(try await FileProvider<YAMLSnapshot>(filePath: FilePath(file)))
                } catch {
                    problems.append("\(file): \(error)")
                }
            }
        }
        guard problems.isEmpty else { throw ConfigurationProblems(problems) }

        let reader = ConfigReader(providers: providers)
        var configuration = ServerConfiguration()
        for setting in ServerSetting.all {
            let key = ConfigKey(setting.key)
            let values: [String]
            if setting.isList {
                if let list = reader.stringArray(forKey: key, isSecret: setting.isSecret) {
                    values = list
                } else if reader.string(forKey: key, isSecret: setting.isSecret) != nil {
                    problems.append("\(setting.key) must be a list: \(setting.allowed)")
                    continue
                } else {
                    continue
                }
            } else if let value = reader.string(forKey: key, isSecret: setting.isSecret) {
                // `key:` with nothing after it (YAML's null) leaves the key unset, as in the example file.
                guard !value.isEmpty else { continue }
                values = [value]
            } else {
                if reader.stringArray(forKey: key, isSecret: setting.isSecret) != nil {
                    problems.append("\(setting.key) must be a single value, not a list: \(setting.allowed)")
                }
                continue
            }
            if !setting.apply(values, &configuration) {
                let shown = setting.isSecret ? "(the value is not shown)" : "'\(values.joined(separator: ","))'"
                problems.append("\(setting.key) \(shown) is not allowed; it takes \(setting.allowed)")
            }
        }
        if problems.isEmpty {
            do {
                try configuration.insights.loadPipelines()
                try configuration.agents.loadLibrary()
                try configuration.chat.loadModels(environment: environment)
                try configuration.validate()
            } catch let error as ConfigurationError {
                problems.append(error.description)
            }
        }
        guard problems.isEmpty else { throw ConfigurationProblems(problems) }
        let known = Set(ServerSetting.all.map(\.environmentVariable) + ["CONDUIT_CONFIG"])
        let warnings = environment.keys.sorted()
            .filter { $0.hasPrefix("CONDUIT_") && !$0.hasPrefix("CONDUIT_TEST_") && !known.contains($0) }
            .map { "the environment variable \($0) is not a setting and is ignored" }
        return Loaded(configuration: configuration, warnings: warnings)
    }

    /// Keys of the file that no setting has, and sections where a value belongs (or the reverse):
    /// a misspelt key would otherwise be silently ignored.
    private func unknownKeys(inFile file: String) -> [String] {
        guard let data = FileManager.default.contents(atPath: file) else { return ["cannot read the configuration file \(file)"] }
        let root: Node?
        do {
            root = try Yams.compose(yaml: String(decoding: data, as: UTF8.self))
        } catch {
            return ["\(file) is not valid YAML: \(error)"]
        }
        guard let root else { return [] }  // an empty file sets nothing
        guard let mapping = root.mapping else { return ["\(file) must be a mapping of keys to values"] }
        let keys = Set(ServerSetting.all.map(\.key))
        let sections = Set(
            keys.flatMap { key in
                let parts = key.split(separator: ".")
                return (1..<parts.count).map { parts[..<$0].joined(separator: ".") }
            })
        var problems: [String] = []
        func walk(_ mapping: Node.Mapping, prefix: String) {
            for (name, value) in mapping {
                let key = prefix + (name.string ?? "\(name)")
                if value.null != nil { continue }  // `key:` with nothing after it sets nothing
                if let nested = value.mapping {
                    if sections.contains(key) {
                        walk(nested, prefix: key + ".")
                    } else {
                        problems.append("\(file): '\(key)' is not a section of the configuration")
                    }
                } else if !keys.contains(key) {
                    let hint = sections.contains(key) ? "a section, it takes keys" : "not a key of the configuration"
                    problems.append("\(file): '\(key)' is \(hint)")
                }
            }
        }
        walk(mapping, prefix: "")
        return problems
    }
}

/// Every problem found in a configuration, one per line: a key, the value given, what is allowed.
public struct ConfigurationProblems: Error, CustomStringConvertible {
    public let problems: [String]
    init(_ problems: [String]) { self.problems = problems }
    public var description: String { "invalid configuration:\n" + problems.map { "  - " + $0 }.joined(separator: "\n") }
}
