import ConduitCore
import ConduitEmbeddings
import ConduitEvents
import ConduitInsights
import ConduitJobs
import Foundation
import Store

/// A key of the whole configuration.
public typealias ServerSetting = Setting<ServerConfiguration>

extension Setting where Root == ServerConfiguration {
    /// Every key Conduit reads, in the order `conduit config check` prints them: the node's own (server,
    /// storage, authentication, model, usage, logging), then each section as the module that owns it
    /// declares it. The example configuration, the command line's options and the README's table are
    /// checked against these by tests.
    public static let all: [ServerSetting] =
        node + APILimits.settings.map { $0.scoped(\.limits) } + SchedulerConfiguration.settings.map { $0.scoped(\.scheduler) }
        + usage + JobRunnerConfiguration.settings.map { $0.scoped(\.jobs) }
        + RequestLogConfiguration.settings.map { $0.scoped(\.requestLog) }
        + InsightsConfiguration.settings.map { $0.scoped(\.insights) } + UpstreamConfiguration.settings.map { $0.scoped(\.upstream) }
        + WebhooksConfiguration.settings.map { $0.scoped(\.webhooks) } + logging
        + TracingConfiguration.settings.map { $0.scoped(\.tracing) }

    public static func named(_ key: String) -> ServerSetting? { all.first { $0.key == key } }

    private static let node: [ServerSetting] = [
        .text(
            "server.host", allowed: "a host name or IP address", \.host, help: "address to bind; beyond loopback only with auth.enabled",
            parse: SettingValues.nonEmpty, show: { $0 }),
        .integer("server.port", 0...65535, \.port, help: "port to listen on"),
        .list(
            "server.features", allowed: "a list of \(NodeFeature.allCases.map(\.rawValue).joined(separator: ", "))", \.features,
            help: "what this node runs; insights needs embeddings", isAllowed: { NodeFeature(rawValue: $0) != nil }),
        .integer(
            "server.max_connections", 1...1_000_000, \.maxConnections, help: "most open connections; past it, new connections get 503"),
        .seconds(
            "server.idle_timeout_seconds", \.idleTimeout,
            help: "closes a connection with no request in progress: idle keep-alive connections and slow request heads"),
        .seconds("server.request_deadline_seconds", \.requestDeadline, help: "longest a request may take, 408 beyond"),
        Setting(
            key: "server.cors_origins", isList: true, allowed: "a list of origins, scheme://host[:port] with no path",
            help: "browser origins allowed to call the API (CORS)", isReloadable: true,
            apply: { values, configuration in
                guard values.allSatisfy(isOrigin) else { return false }
                configuration.corsOrigins = Set(values)
                return true
            },
            current: { $0.corsOrigins.sorted().joined(separator: ",") }, copy: { $1.corsOrigins = $0.corsOrigins }),
        .keyedList(
            "server.latency_objectives", form: "ROUTE=MILLISECONDS entries (/v1/embeddings=200)", reloadable: true,
            \.latencyObjectives, help: "latency objectives by route template: each answer counts in conduit_slo_requests_total",
            parse: { route, text in
                guard route.hasPrefix("/"), let milliseconds = Double(text), milliseconds > 0, milliseconds.isFinite else { return nil }
                return .milliseconds(milliseconds)
            },
            show: { "\($0 / .milliseconds(1))" }),
        .text(
            "data_dir", allowed: "a folder path", \.dataDirectory,
            help: "model cache, and the SQLite database unless database.url says otherwise",
            parse: { SettingValues.nonEmpty($0).map { URL(filePath: $0) } }, show: \.relativePath),
        .text(
            "database.url", allowed: "postgres://user:password@host:port/database, or the path of an SQLite file",
            \.database, help: "PostgreSQL for several nodes, or an SQLite file; default DATA_DIR/conduit.sqlite",
            parse: { try? DatabaseLocation($0) }, show: { $0?.description }),
        .flag("auth.enabled", \.authentication, help: "every call but /health needs an API key or an access token"),
        .text(
            "auth.admin_key", allowed: "32 to 256 visible ASCII characters", secret: true, \.adminKey,
            help: "the administrator key; without one, the first start with auth creates one and prints it once", parse: { $0 },
            show: { $0 }),
        .text(
            "auth.admin_key_file", allowed: "a readable file holding the admin key", \.adminKey,
            help: "a file holding the admin key (a Docker or systemd credential); wins over admin_key",
            parse: SettingValues.secretFile, show: { _ in nil }),
        .text(
            "auth.jwt_secret", allowed: "at least 32 bytes", secret: true, \.jwtSecret,
            help: "signs users' access tokens; without it users cannot log in", parse: { $0 }, show: { $0 }),
        .text(
            "auth.jwt_secret_file", allowed: "a readable file holding the JWT signing key", \.jwtSecret,
            help: "a file holding the JWT signing key; wins over jwt_secret", parse: SettingValues.secretFile, show: { _ in nil }),
        .text(
            "model.dir", allowed: "a folder in Hugging Face layout", reloadable: true, \.modelDirectory,
            help: "serve the model in this folder", parse: { SettingValues.nonEmpty($0).map { URL(filePath: $0) } },
            show: { $0?.relativePath }),
        .text(
            "model.id", allowed: "a Hugging Face model id, owner/name", reloadable: true, \.modelID,
            help: "or a Hugging Face model id, downloaded into data_dir on first use", parse: SettingValues.nonEmpty, show: { $0 }),
        .text(
            "model.hub_endpoint", allowed: "an http(s) URL", reloadable: true, \.hubEndpoint,
            help: "the Hugging Face hub, or a mirror", parse: SettingValues.httpURL, show: \.absoluteString),
        .text(
            "model.served_name", allowed: "a model name", reloadable: true, \.servedModelName,
            help: "the name clients send; default: the model's folder or id name", parse: SettingValues.nonEmpty, show: { $0 }),
        .list(
            "model.aliases", allowed: "a list of model names", reloadable: true, \.modelAliases, help: "other names accepted",
            isAllowed: { !$0.isEmpty }),
    ]

    private static let usage: [ServerSetting] = [
        .keyedList(
            "usage.prices", form: "MODEL=USD_PER_MILLION_TOKENS entries", reloadable: true, \.prices,
            help: "US dollars per million tokens by model, for the usage report's cost",
            parse: { _, text in Double(text).flatMap { $0 >= 0 && $0.isFinite ? $0 : nil } }, show: { "\($0)" })
    ]

    private static let logging: [ServerSetting] = [
        .text(
            "logging.level", allowed: "a level, or levels per subsystem: info,Store=debug", reloadable: true, \.logLevel,
            help: "one level, or one per subsystem: info,Store=debug,PostgresNIO=warning",
            parse: { (try? LogLevels(parsing: $0)) != nil ? $0 : nil }, show: { $0 }),
        .text(
            "logging.format", allowed: "json, logfmt or text", \.logFormat, help: "log lines as json, logfmt or text",
            parse: { ["json", "logfmt", "text"].contains($0) ? $0 : nil }, show: { $0 }),
    ]

    private static func isOrigin(_ text: String) -> Bool {
        (text.hasPrefix("https://") || text.hasPrefix("http://")) && !text.hasSuffix("/")
    }
}
