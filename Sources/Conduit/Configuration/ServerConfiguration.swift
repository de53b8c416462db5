import ConduitAgents
import ConduitChat
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
    /// Where the node listens, what it runs, and its connection and request bounds.
    public var server = HTTPServerConfiguration()
    /// Holds the model cache and, unless `database` names another, the SQLite database.
    public var dataDirectory = URL(filePath: "data")
    /// Where teams, keys and usage live; nil for `conduit.sqlite` in the data folder.
    public var database: DatabaseLocation?
    public var auth = AuthConfiguration()
    /// Which model the node serves.
    public var model = ModelConfiguration()
    public var scheduler = SchedulerConfiguration()
    public var limits = APILimits()
    public var usage = UsageConfiguration()
    public var logging = LoggingConfiguration()
    /// How this node runs jobs: its queues and their concurrency, leases, retention.
    public var jobs = JobRunnerConfiguration()
    /// Which requests are kept for `conduit replay`; none by default.
    public var requestLog = RequestLogConfiguration()
    /// Where spans are exported (OpenTelemetry); off by default.
    public var tracing = TracingConfiguration()
    /// The conversation-insights pipelines.
    public var insights = InsightsConfiguration()
    /// The agent platform's agents and domains.
    public var agents = AgentsConfiguration()
    /// The chat gateway: its models (and their providers) and how it calls them; no models by default.
    public var chat = ChatConfiguration()
    /// How events are delivered to the teams' webhooks.
    public var webhooks = WebhooksConfiguration()
    /// How the event log is kept and streamed.
    public var events = EventsConfiguration()

    /// The defaults, with the fields tests and tools most often set.
    public init(
        host: String = "127.0.0.1", port: Int = 8080, dataDirectory: URL = URL(filePath: "data"), modelDirectory: URL? = nil,
        authentication: Bool = false
    ) {
        server.host = host
        server.port = port
        self.dataDirectory = dataDirectory
        model.directory = modelDirectory
        auth.enabled = authentication
    }

    /// Refuses settings that cannot work or are unsafe, naming the setting.
    public func validate() throws {
        // Without authentication anyone who can reach the port could use the server.
        guard auth.enabled || server.bindsToLoopback else {
            throw ConfigurationError(
                "server.host \(server.host) is not a loopback address; without authentication (auth.enabled) the server binds only to 127.0.0.1, ::1 or localhost"
            )
        }
        try server.validate()
        try auth.validate()
        try scheduler.validate()
        try limits.validate()
        guard server.requestDeadline > scheduler.requestTimeout else {
            throw ConfigurationError(
                "server.request_deadline_seconds must be longer than scheduler.request_timeout_seconds, or queued requests would never get their 503"
            )
        }
        try insights.validate(chat: chat)
    }

    /// What the embeddings feature needs to load the model.
    public var modelSettings: ModelSettings { ModelSettings(model: model, dataDirectory: dataDirectory, scheduler: scheduler) }

    /// The database location in effect.
    public var databaseLocation: DatabaseLocation { database ?? .defaultSQLite(in: dataDirectory) }
}
