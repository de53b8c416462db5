import ConduitAgents
import ConduitChat
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
    /// Every key Conduit reads, in the order `conduit config check` prints them, each section as the
    /// module that owns it declares it. The example configuration, the command line's options and the README's table are
    /// checked against these by tests.
    public static let all: [ServerSetting] =
        HTTPServerConfiguration.settings.map { $0.scoped(\.server) } + storage + AuthConfiguration.settings.map { $0.scoped(\.auth) }
        + ModelConfiguration.settings.map { $0.scoped(\.model) } + APILimits.settings.map { $0.scoped(\.limits) }
        + SchedulerConfiguration.settings.map { $0.scoped(\.scheduler) } + UsageConfiguration.settings.map { $0.scoped(\.usage) }
        + JobRunnerConfiguration.settings.map { $0.scoped(\.jobs) } + RequestLogConfiguration.settings.map { $0.scoped(\.requestLog) }
        + ChatConfiguration.settings.map { $0.scoped(\.chat) } + InsightsConfiguration.settings.map { $0.scoped(\.insights) }
        + AgentsConfiguration.settings.map { $0.scoped(\.agents) }
        + WebhooksConfiguration.settings.map { $0.scoped(\.webhooks) } + EventsConfiguration.settings.map { $0.scoped(\.events) }
        + LoggingConfiguration.settings.map { $0.scoped(\.logging) }
        + TracingConfiguration.settings.map { $0.scoped(\.tracing) }

    public static func named(_ key: String) -> ServerSetting? { all.first { $0.key == key } }

    /// The node's storage: the two keys that belong to no section of their own.
    private static let storage: [ServerSetting] = [
        .text(
            "data_dir", allowed: "a folder path", \.dataDirectory,
            help: "model cache, and the SQLite database unless database.url says otherwise",
            parse: { SettingValues.nonEmpty($0).map { URL(filePath: $0) } }, show: \.relativePath),
        .text(
            "database.url", allowed: "postgres://user:password@host:port/database, or the path of an SQLite file",
            \.database, help: "PostgreSQL for several nodes, or an SQLite file; default DATA_DIR/conduit.sqlite",
            parse: { try? DatabaseLocation($0) }, show: { $0?.description }),
    ]
}
