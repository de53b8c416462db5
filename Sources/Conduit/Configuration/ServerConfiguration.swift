import ConduitCore
import ConduitEmbeddings
import ConduitEvents
import ConduitInsights
import ConduitJobs
import Foundation
import Store

/// Everything `conduit serve` needs to start. Read from conduit.yaml, the environment and the command
/// line by `ConfigurationSource`; each key is a `Setting`.
public struct ServerConfiguration: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// Holds the model cache and, unless `database` names another, the SQLite database.
    public var dataDirectory: URL
    /// Where teams, keys and usage live; nil for `conduit.sqlite` in the data folder.
    public var database: DatabaseLocation?
    /// Whether every API call needs an API key. Off, the server binds only to loopback.
    public var authentication: Bool
    /// An administrator key supplied by the operator (never logged); without one, the first start with
    /// authentication on creates one and prints it once.
    public var adminKey: String?
    /// The key that signs users' access tokens (HS256, at least 32 bytes). No default: without one,
    /// users cannot log in, and only API keys work.
    public var jwtSecret: String?
    /// Browser origins allowed to call the API (CORS); none by default.
    public var corsOrigins: Set<String> = []
    /// What this node runs (`NodeFeature` names); every feature by default.
    public var features: [String] = NodeFeature.allCases.map(\.rawValue)
    /// Open connections at most; past it, new connections get 503.
    public var maxConnections = 1024
    /// A connection with no request in progress is closed after this long: keep-alive idleness, and a
    /// client that never finishes sending a request head.
    public var idleTimeout: Duration = .seconds(30)
    /// Longest a request may take from its head to its answer.
    public var requestDeadline: Duration = .seconds(120)
    /// US dollars per million tokens, by served model name, for the usage report's cost estimate.
    public var prices: [String: Double] = [:]
    /// Latency objectives by route template (`/v1/embeddings`): each answer on such a route counts as
    /// a good or a bad event in `conduit_slo_requests_total`.
    public var latencyObjectives: [String: Duration] = [:]
    /// Serve the model in this folder; when nil, `modelID` is used, else the default model.
    public var modelDirectory: URL?
    /// A Hugging Face model id, downloaded into the data folder when not there yet.
    public var modelID: String?
    /// Base URL of the Hugging Face hub (or a mirror).
    public var hubEndpoint: URL
    /// The id clients use for the model; by default the last part of its id or folder name.
    public var servedModelName: String?
    /// Other ids accepted for the model.
    public var modelAliases: [String]
    public var scheduler: SchedulerConfiguration
    public var limits: APILimits
    /// Levels for all subsystems or per subsystem (`info,Store=debug`).
    public var logLevel = "info"
    /// json, logfmt or text.
    public var logFormat = "json"
    /// How this node runs jobs: its queues and their concurrency, leases, retention.
    public var jobs = JobRunnerConfiguration()
    /// Which requests are kept for `conduit replay`; none by default.
    public var requestLog = RequestLogConfiguration()
    /// Where spans are exported (OpenTelemetry); off by default.
    public var tracing = TracingConfiguration()
    /// The conversation-insights pipelines.
    public var insights = InsightsConfiguration()
    /// The OpenAI-compatible provider of `llm:` analyzers; none by default.
    public var upstream = UpstreamConfiguration()
    /// How events are delivered to the teams' webhooks.
    public var webhooks = WebhooksConfiguration()

    public init(
        host: String = "127.0.0.1", port: Int = 8080, dataDirectory: URL = URL(filePath: "data"),
        modelDirectory: URL? = nil, modelID: String? = nil,
        hubEndpoint: URL = URL(string: "https://huggingface.co")!, servedModelName: String? = nil,
        modelAliases: [String] = [], scheduler: SchedulerConfiguration = .init(), limits: APILimits = .init(),
        database: DatabaseLocation? = nil, authentication: Bool = false, adminKey: String? = nil
    ) {
        self.database = database
        self.authentication = authentication
        self.adminKey = adminKey
        self.host = host
        self.port = port
        self.dataDirectory = dataDirectory
        self.modelDirectory = modelDirectory
        self.modelID = modelID
        self.hubEndpoint = hubEndpoint
        self.servedModelName = servedModelName
        self.modelAliases = modelAliases
        self.scheduler = scheduler
        self.limits = limits
    }

    /// Refuses settings that cannot work or are unsafe, naming the setting.
    public func validate() throws {
        // Without authentication anyone who can reach the port could use the server.
        guard authentication || Self.isLoopback(host) else {
            throw ConfigurationError(
                "server.host \(host) is not a loopback address; without authentication (auth.enabled) the server binds only to 127.0.0.1, ::1 or localhost"
            )
        }
        if let jwtSecret { _ = try AccessTokens(secret: jwtSecret) }
        if let adminKey, !APIKeySecret.isWellFormed(adminKey) {
            throw ConfigurationError("auth.admin_key must be 32 to 256 visible ASCII characters (its value is not shown)")
        }
        guard (0...65535).contains(port) else { throw ConfigurationError("server.port must be between 0 and 65535, got \(port)") }
        try scheduler.validate()
        try limits.validate()
        guard maxConnections >= 1 else { throw ConfigurationError("server.max_connections must be at least 1, got \(maxConnections)") }
        guard idleTimeout > .zero, requestDeadline > .zero else {
            throw ConfigurationError("server.idle_timeout_seconds and server.request_deadline_seconds must be positive")
        }
        guard requestDeadline > scheduler.requestTimeout else {
            throw ConfigurationError(
                "server.request_deadline_seconds must be longer than scheduler.request_timeout_seconds, or queued requests would never get their 503"
            )
        }
        if let (route, objective) = latencyObjectives.first(where: { !$0.key.hasPrefix("/") || $0.value <= .zero }) {
            throw ConfigurationError(
                "server.latency_objectives needs a route template starting with / and a duration above zero, got \(route)=\(objective)")
        }
        let running = nodeFeatures
        if running.contains(.insights), !running.contains(.embeddings) {
            throw ConfigurationError("server.features: insights needs embeddings (its analyzers and cache use the local model)")
        }
        try insights.validate(upstream: upstream)
        if let origin = corsOrigins.first(where: { !($0.hasPrefix("https://") || $0.hasPrefix("http://")) || $0.hasSuffix("/") }) {
            throw ConfigurationError("server.cors_origins takes scheme://host[:port] with no path, got '\(origin)'")
        }
    }

    /// What the embeddings feature needs to load the model.
    public var modelSettings: ModelSettings {
        ModelSettings(
            modelDirectory: modelDirectory, modelID: modelID, hubEndpoint: hubEndpoint, servedModelName: servedModelName,
            modelAliases: modelAliases, dataDirectory: dataDirectory, scheduler: scheduler)
    }

    /// The database location in effect.
    public var databaseLocation: DatabaseLocation { database ?? .defaultSQLite(in: dataDirectory) }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}
