import ArgumentParser
import Conduit
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import UnixSignals

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTP server.",
        discussion: "Every option also reads an environment variable, named in its help; the option wins."
    )

    @Option(help: "Address to bind (env CONDUIT_HOST; default 127.0.0.1). Beyond loopback only with --auth.")
    var host: String?

    @Option(help: "Port to listen on (env CONDUIT_PORT; default 8080).")
    var port: Int?

    @OptionGroup var model: ModelOptions

    @OptionGroup var database: DatabaseOptions

    @Flag(help: "Require an API key on every call but /health (env CONDUIT_AUTH=1). Needed to bind beyond loopback.")
    var auth = false

    @Option(
        help: ArgumentHelp(
            "File holding the administrator API key (env CONDUIT_ADMIN_KEY_FILE; or the key itself in CONDUIT_ADMIN_KEY). Without one, the first start with --auth creates a key and prints it once.",
            valueName: "path"))
    var adminKeyFile: String?

    @Option(
        help: ArgumentHelp(
            "File holding the key that signs users' access tokens, at least 32 bytes (env CONDUIT_JWT_SECRET_FILE; or the key itself in CONDUIT_JWT_SECRET). Without one, users cannot log in.",
            valueName: "path"))
    var jwtSecretFile: String?

    @Option(
        name: .customLong("price"),
        help: ArgumentHelp("A model's price for the usage report, as MODEL=USD per million tokens; repeatable.", valueName: "model=usd"))
    var prices: [String] = []

    @Option(
        name: .customLong("latency-objective"),
        help: ArgumentHelp(
            "A route's latency objective, as ROUTE=MILLISECONDS (/v1/embeddings=200): its answers count as good or bad events in conduit_slo_requests_total; repeatable.",
            valueName: "route=ms"))
    var latencyObjectives: [String] = []

    @Option(help: "The model id clients send (default: the last part of the model id, or the folder name).")
    var servedModelName: String?

    @Option(help: "Another id accepted for the model; repeatable.")
    var modelAlias: [String] = []

    @Option(help: "Most tokens in one forward pass.")
    var maxBatchTokens: Int = SchedulerConfiguration().maxBatchTokens

    @Option(help: "Most sequences in one forward pass.")
    var maxBatchRequests: Int = SchedulerConfiguration().maxBatchSequences

    @Option(help: "Most tokens waiting for a batch; beyond, requests get 503 with Retry-After.")
    var maxQueuedTokens: Int = SchedulerConfiguration().maxQueuedTokens

    @Option(help: "Most requests waiting for a batch; beyond, requests get 503 with Retry-After.")
    var maxQueuedRequests: Int = SchedulerConfiguration().maxQueuedRequests

    @Option(help: "Seconds a request may wait for its batch before it is dropped with 503.")
    var requestTimeout: Double = 30

    @Option(help: "Largest request body in bytes (413 beyond).")
    var maxBodyBytes: Int = APILimits().maxBodyBytes

    @Option(help: "Most inputs in one request.")
    var maxInputs: Int = APILimits().maxInputs

    @Option(
        name: .customLong("cors-origin"),
        help: ArgumentHelp(
            "A browser origin allowed to call the API, as https://app.example.com; repeatable (default: none).", valueName: "origin"))
    var corsOrigins: [String] = []

    @Option(help: "Most open connections; past it, new ones get 503.")
    var maxConnections: Int = ServerConfiguration().maxConnections

    @Option(help: "Seconds before closing a connection with no request in progress (also bounds how long a request head may take).")
    var idleTimeout: Double = 30

    @Option(help: "Seconds a request may take from its head to its answer (408 beyond).")
    var requestDeadline: Double = 120

    @Flag(inversion: .prefixedNo, help: "Cut inputs longer than the model takes (as sentence-transformers does) instead of answering 400.")
    var truncate = true

    @OptionGroup var logging: LogOptions

    func run() async throws {
        guard requestTimeout.isFinite, requestTimeout > 0, requestTimeout <= 86_400 else {
            throw ValidationError("request-timeout must be between 0 and 86400 seconds, got \(requestTimeout)")
        }
        let environment = ProcessInfo.processInfo.environment
        let logger = try logging.makeLogger(defaultFormat: "json")
        var configuration = ServerConfiguration()
        configuration.host = host ?? environment["CONDUIT_HOST"] ?? configuration.host
        if let port = port ?? environment["CONDUIT_PORT"].flatMap(Int.init) { configuration.port = port }
        try model.apply(to: &configuration, environment: environment)
        configuration.database = try database.location(environment: environment)
        configuration.authentication = auth || ["1", "true", "yes"].contains(environment["CONDUIT_AUTH"]?.lowercased() ?? "")
        configuration.adminKey = try secret(
            file: adminKeyFile, fileVariable: "CONDUIT_ADMIN_KEY_FILE", variable: "CONDUIT_ADMIN_KEY", environment: environment)
        configuration.jwtSecret = try secret(
            file: jwtSecretFile, fileVariable: "CONDUIT_JWT_SECRET_FILE", variable: "CONDUIT_JWT_SECRET", environment: environment)
        configuration.prices = try keyedValues(prices, option: "price", form: "MODEL=USD_PER_MILLION_TOKENS") { text in
            Double(text).flatMap { $0 >= 0 && $0.isFinite ? $0 : nil }
        }
        configuration.latencyObjectives = try keyedValues(latencyObjectives, option: "latency-objective", form: "ROUTE=MILLISECONDS") {
            text in Double(text).flatMap { $0 > 0 && $0.isFinite ? Duration.milliseconds($0) : nil }
        }
        configuration.servedModelName = servedModelName
        configuration.modelAliases = modelAlias
        configuration.scheduler = SchedulerConfiguration(
            maxBatchTokens: maxBatchTokens, maxBatchSequences: maxBatchRequests, maxQueuedTokens: maxQueuedTokens,
            maxQueuedRequests: maxQueuedRequests, requestTimeout: .milliseconds(Int(requestTimeout * 1000)))
        configuration.limits = APILimits(maxBodyBytes: maxBodyBytes, maxInputs: maxInputs, truncate: truncate)
        configuration.corsOrigins = Set(corsOrigins)
        configuration.maxConnections = maxConnections
        for (name, value) in [("idle-timeout", idleTimeout), ("request-deadline", requestDeadline)] {
            guard value.isFinite, value > 0, value <= 86_400 else {
                throw ValidationError("\(name) must be between 0 and 86400 seconds, got \(value)")
            }
        }
        configuration.idleTimeout = .milliseconds(Int(idleTimeout * 1000))
        configuration.requestDeadline = .milliseconds(Int(requestDeadline * 1000))
        do {
            try configuration.validate()
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
        if configuration.adminKey != nil && !configuration.authentication {
            logger.warning("an admin key is configured but authentication is off (--auth); the key is not used")
        }
        let readiness = Readiness()
        let app = try await buildApplication(configuration: configuration, readiness: readiness, logger: logger)
        try await ServiceGroup(
            services: [ReadinessOnShutdown(app, readiness: readiness)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
        ).run()
    }

    /// A secret from a file (the option, or the environment variable naming one) or from the environment
    /// itself; a file's trailing newline is not part of it.
    private func secret(file: String?, fileVariable: String, variable: String, environment: [String: String]) throws -> String? {
        if let path = file ?? environment[fileVariable] {
            guard let contents = FileManager.default.contents(atPath: path) else {
                throw ValidationError("cannot read the secret file \(path)")
            }
            return String(decoding: contents, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return environment[variable]
    }
}

/// The `KEY=VALUE` entries of a repeatable option as a dictionary (the last of a repeated key wins);
/// a malformed entry is an error naming the option, the form it takes and the entry.
func keyedValues<Value>(_ entries: [String], option: String, form: String, value: (Substring) -> Value?) throws -> [String: Value] {
    try Dictionary(
        entries.map { entry in
            let parts = entry.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let parsed = value(parts[1]) else { throw ValidationError("--\(option) takes \(form), got '\(entry)'") }
            return (String(parts[0]), parsed)
        }, uniquingKeysWith: { _, last in last })
}
