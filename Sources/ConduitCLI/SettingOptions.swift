import ArgumentParser
import Conduit
import ConduitCore
import Foundation

/// The options of `conduit serve` and `conduit config check`: the configuration file, and one option
/// for each setting an operator commonly gives on the command line. Each is a key of the
/// configuration and wins over the environment and the file; its help is the setting's own, with the
/// key and its default.
struct SettingOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The configuration file, YAML (env CONDUIT_CONFIG).", valueName: "path"))
    var config: String?

    @Option(help: ArgumentHelp(ServerSetting.optionHelp("server.host"), valueName: "address"))
    var host: String?

    @Option(help: ArgumentHelp(ServerSetting.optionHelp("server.port"), valueName: "port"))
    var port: String?

    @Option(help: ArgumentHelp(ServerSetting.optionHelp("data_dir"), valueName: "path"))
    var dataDir: String?

    @Option(help: ArgumentHelp(ServerSetting.optionHelp("model.dir"), valueName: "path"))
    var modelDir: String?

    @Option(
        help: ArgumentHelp(
            ServerSetting.optionHelp("model.id") + " Without dir or id, sentence-transformers/all-MiniLM-L6-v2 from its PyPI package.",
            valueName: "owner/name"))
    var modelID: String?

    @Option(help: ArgumentHelp(ServerSetting.optionHelp("model.hub_endpoint"), valueName: "url"))
    var hubEndpoint: String?

    @Option(help: ArgumentHelp(ServerSetting.optionHelp("database.url"), valueName: "url"))
    var databaseURL: String?

    @Flag(help: ArgumentHelp(ServerSetting.optionHelp("auth.enabled") + " Needed to bind beyond loopback."))
    var auth = false

    @Option(help: ArgumentHelp(ServerSetting.optionHelp("auth.admin_key_file"), valueName: "path"))
    var adminKeyFile: String?

    @Option(help: ArgumentHelp(ServerSetting.optionHelp("auth.jwt_secret_file"), valueName: "path"))
    var jwtSecretFile: String?

    @Option(
        name: .customLong("price"), help: ArgumentHelp(ServerSetting.optionHelp("usage.prices") + " Repeatable.", valueName: "model=usd"))
    var prices: [String] = []

    @Option(
        name: .customLong("latency-objective"),
        help: ArgumentHelp(ServerSetting.optionHelp("server.latency_objectives") + " Repeatable.", valueName: "route=ms"))
    var latencyObjectives: [String] = []

    @Option(help: ArgumentHelp(ServerSetting.optionHelp("model.served_name"), valueName: "name"))
    var servedModelName: String?

    @Option(help: ArgumentHelp(ServerSetting.optionHelp("model.aliases") + " Repeatable.", valueName: "name"))
    var modelAlias: [String] = []

    @Option(help: ArgumentHelp(ServerSetting.optionHelp("model.precision"), valueName: "fp32|int8"))
    var precision: String?

    @Option(help: ArgumentHelp(ServerSetting.optionHelp("scheduler.max_batch_tokens"), valueName: "tokens"))
    var maxBatchTokens: String?

    @Option(help: ArgumentHelp(ServerSetting.optionHelp("scheduler.max_batch_requests"), valueName: "requests"))
    var maxBatchRequests: String?

    @Option(help: ArgumentHelp(ServerSetting.optionHelp("scheduler.max_queued_tokens"), valueName: "tokens"))
    var maxQueuedTokens: String?

    @Option(help: ArgumentHelp(ServerSetting.optionHelp("scheduler.max_queued_requests"), valueName: "requests"))
    var maxQueuedRequests: String?

    @Option(help: ArgumentHelp(ServerSetting.optionHelp("scheduler.request_timeout_seconds"), valueName: "seconds"))
    var requestTimeout: String?

    @Option(help: ArgumentHelp(ServerSetting.optionHelp("limits.max_body_bytes"), valueName: "bytes"))
    var maxBodyBytes: String?

    @Option(help: ArgumentHelp(ServerSetting.optionHelp("limits.max_inputs"), valueName: "inputs"))
    var maxInputs: String?

    @Option(
        name: .customLong("cors-origin"),
        help: ArgumentHelp(ServerSetting.optionHelp("server.cors_origins") + " Repeatable.", valueName: "origin"))
    var corsOrigins: [String] = []

    @Option(help: ArgumentHelp(ServerSetting.optionHelp("server.max_connections"), valueName: "connections"))
    var maxConnections: String?

    @Option(help: ArgumentHelp(ServerSetting.optionHelp("server.idle_timeout_seconds"), valueName: "seconds"))
    var idleTimeout: String?

    @Option(help: ArgumentHelp(ServerSetting.optionHelp("server.request_deadline_seconds"), valueName: "seconds"))
    var requestDeadline: String?

    @Flag(inversion: .prefixedNo, help: ArgumentHelp(ServerSetting.optionHelp("model.truncate")))
    var truncate: Bool?

    @Option(help: ArgumentHelp(ServerSetting.optionHelp("logging.level"), valueName: "levels"))
    var logLevel: String?

    @Option(help: ArgumentHelp(ServerSetting.optionHelp("logging.format"), valueName: "format"))
    var logFormat: String?

    /// The options given, by configuration key.
    var overrides: [String: [String]] {
        let single: [(String, String?)] = [
            ("server.host", host), ("server.port", port), ("data_dir", dataDir), ("model.dir", modelDir), ("model.id", modelID),
            ("model.hub_endpoint", hubEndpoint), ("database.url", databaseURL), ("auth.enabled", auth ? "true" : nil),
            ("auth.admin_key_file", adminKeyFile), ("auth.jwt_secret_file", jwtSecretFile), ("model.served_name", servedModelName),
            ("model.precision", precision),
            ("scheduler.max_batch_tokens", maxBatchTokens), ("scheduler.max_batch_requests", maxBatchRequests),
            ("scheduler.max_queued_tokens", maxQueuedTokens), ("scheduler.max_queued_requests", maxQueuedRequests),
            ("scheduler.request_timeout_seconds", requestTimeout), ("limits.max_body_bytes", maxBodyBytes),
            ("limits.max_inputs", maxInputs), ("server.max_connections", maxConnections), ("server.idle_timeout_seconds", idleTimeout),
            ("server.request_deadline_seconds", requestDeadline), ("model.truncate", truncate.map { "\($0)" }),
            ("logging.level", logLevel), ("logging.format", logFormat),
        ]
        let lists: [(String, [String])] = [
            ("usage.prices", prices), ("server.latency_objectives", latencyObjectives), ("model.aliases", modelAlias),
            ("server.cors_origins", corsOrigins),
        ]
        var result: [String: [String]] = [:]
        for (key, value) in single { if let value { result[key] = [value] } }
        for (key, values) in lists where !values.isEmpty { result[key] = values }
        return result
    }

    func source(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ConfigurationSource {
        let file = config ?? environment["CONDUIT_CONFIG"]
        if let file, !FileManager.default.fileExists(atPath: file) {
            throw ValidationError("the configuration file \(file) does not exist")
        }
        return ConfigurationSource(file: file, environment: environment, overrides: overrides)
    }

    /// Loads and validates every setting; on a problem, lists them all on standard error and exits
    /// with EX_CONFIG (78).
    func load(_ source: ConfigurationSource) async throws -> ConfigurationSource.Loaded {
        do {
            return try await source.load()
        } catch let problems as ConfigurationProblems {
            FileHandle.standardError.write(Data("conduit: \(problems)\n".utf8))
            throw ExitCode(78)
        }
    }
}
