import ConduitAgents
import ConduitChat
import ConduitCore
import ConduitEmbeddings
import ConduitInsights
import CoreMetrics
import Foundation
import Logging
import ServiceLifecycle
import Store
import UnixSignals

/// Reloads the configuration on SIGHUP and whenever its file, or a file of its pipelines folder, changes. A configuration that does not
/// load or validate is refused whole, with every reason logged, and the one in effect stays; a valid
/// one applies its reloadable settings at once (requests under way finish with the settings they
/// started with) and names the changed settings that need a restart. When it names another model,
/// that model is loaded and warmed first (a model that fails to load refuses the reload), then
/// takes over from the next request while the one it replaces finishes what it took.
public struct ConfigurationReloader: Service {
    let source: ConfigurationSource
    let live: LiveConfiguration
    /// Nil on a node that serves no model.
    let catalog: ModelCatalog?
    /// The levels the process's log handlers follow, when they follow reloads.
    let logLevels: LiveLogLevels?
    /// Loads the model a configuration names, ready to serve.
    let loadModel: @Sendable (ServerConfiguration) async throws -> ServedModel
    /// How often the file is checked for a change.
    /// Where each reload is recorded (`config.reloaded`, `model.reloaded`, in every team's log); nil: nowhere.
    let store: Database?
    let pollInterval: Duration
    let logger: Logger
    private let reloads: (success: Counter, failure: Counter)
    private let lastSucceeded: Gauge

    /// The settings that choose the model: a change to any loads it again.
    static let modelKeys: Set<String> = [
        "model.dir", "model.id", "model.hub_endpoint", "model.served_name", "model.aliases", "model.precision",
    ]

    public init(
        source: ConfigurationSource, live: LiveConfiguration, catalog: ModelCatalog?, logLevels: LiveLogLevels? = nil,
        store: Database? = nil, pollInterval: Duration = .seconds(2),
        metricsFactory: any MetricsFactory, logger: Logger, loadModel: @escaping @Sendable (ServerConfiguration) async throws -> ServedModel
    ) {
        self.source = source
        self.live = live
        self.catalog = catalog
        self.logLevels = logLevels
        self.loadModel = loadModel
        self.store = store
        self.pollInterval = pollInterval
        self.logger = logger
        reloads = (
            Counter(label: "conduit_config_reloads_total", dimensions: [("result", "success")], factory: metricsFactory),
            Counter(label: "conduit_config_reloads_total", dimensions: [("result", "failure")], factory: metricsFactory)
        )
        lastSucceeded = Gauge(label: "conduit_config_last_reload_successful", factory: metricsFactory)
        lastSucceeded.record(1)
    }

    public func run() async throws {
        let (triggers, trigger) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(1))
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await _ in await UnixSignalsSequence(trapping: .sighup) { trigger.yield("SIGHUP") }
            }
            // The configuration file, the pipeline, agent and domain files of the folders in effect and the chat models
            // file (set by the file or the environment).
            if source.file != nil || live.read(\.insights.pipelinesDirectory) != nil || live.read(\.chat.modelsFile) != nil
                || !live.read(\.agents.watchedFolders).isEmpty
            {
                group.addTask {
                    func stamps() -> [FileStamp] {
                        let folders = [live.read(\.insights.pipelinesDirectory)].compactMap { $0 } + live.read(\.agents.watchedFolders)
                        let declared = folders.flatMap { folder in
                            ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).sorted().map {
                                folder.appending(path: $0).path
                            }
                        }
                        let files = (source.file.map { [$0] } ?? []) + declared + (live.read(\.chat.modelsFile).map { [$0.path] } ?? [])
                        return files.map(FileStamp.init)
                    }
                    var stamp = stamps()
                    while !Task.isCancelled {
                        try? await Task.sleep(for: pollInterval)
                        let now = stamps()
                        if now != stamp {
                            stamp = now
                            trigger.yield("file changed")
                        }
                    }
                }
            }
            await cancelWhenGracefulShutdown {
                for await cause in triggers { await reload(cause: cause) }
            }
            group.cancelAll()
        }
    }

    /// Loads the configuration again and applies what it may; returns false when it was refused.
    @discardableResult
    public func reload(cause: String) async -> Bool {
        let loaded: ConfigurationSource.Loaded
        var model: ServedModel?
        do {
            loaded = try await source.load()
            let current = live.current
            let changed = Set(
                ServerSetting.all.filter { Self.modelKeys.contains($0.key) && $0.current(current) != $0.current(loaded.configuration) }.map(
                    \.key)
            )
            if let served = catalog?.models.first, let folder = served.folder, !changed.isEmpty,
                changed.isSubset(of: ["model.served_name", "model.aliases"])
            {
                // Only its names change: the model stays loaded.
                let (name, aliases) = servedNames(loaded.configuration.modelSettings, folder: folder)
                model = ServedModel(
                    name: name, aliases: aliases, model: served.model, scheduler: served.scheduler, created: served.created, folder: folder)
            } else if !changed.isEmpty, catalog != nil {
                model = try await loadModel(loaded.configuration)
            }
        } catch {
            reloads.failure.increment()
            lastSucceeded.record(0)
            logger.error(
                "configuration reload refused; the configuration in effect stays",
                metadata: ["cause": "\(cause)", "problems": "\((error as? ConfigurationProblems)?.problems ?? ["\(error)"])"])
            return false
        }
        let (applied, needRestart) = live.reload(from: loaded.configuration)
        if let model { catalog?.replace(with: [model]) }
        let scheduler = live.read(\.scheduler)
        for served in catalog?.models ?? [] { served.scheduler.update(scheduler) }
        if let levels = try? LogLevels(parsing: live.read(\.logging.level)) { logLevels?.set(levels) }
        reloads.success.increment()
        lastSucceeded.record(1)
        logger.notice(
            "configuration reloaded",
            metadata: [
                "cause": "\(cause)", "version": "\(live.version)", "applied": "\(applied)", "needs_restart": "\(needRestart)",
            ])
        await record(cause: cause, applied: applied, needRestart: needRestart, model: model)
        return true
    }

    /// Writes the reload into every team's log (the audit trail's `config.reloaded`, and `model.reloaded`
    /// when the model changed); a store that cannot take it does not undo the reload, it is logged.
    private func record(cause: String, applied: [String], needRestart: [String], model: ServedModel?) async {
        guard let store, !applied.isEmpty || !needRestart.isEmpty else { return }
        let node = ProcessInfo.processInfo.hostName
        do {
            try await EventActor.$current.withValue("config") {
                try await store.events.recordForEveryTeam(
                    NewEvent(NodeEvents.ConfigurationReloaded(node: node, cause: cause, applied: applied, needsRestart: needRestart)))
                if let model {
                    try await store.events.recordForEveryTeam(
                        NewEvent(NodeEvents.ModelReloaded(node: node, model: model.name, aliases: model.aliases)))
                }
            }
        } catch {
            logger.warning("the reload was not recorded in the event log", metadata: ["error": "\(error)"])
        }
    }
}

/// What tells that a file changed: its identity (an editor or a ConfigMap swap replaces it), size and
/// modification time. Nil fields for a missing file, so that its return is noticed too.
private struct FileStamp: Equatable {
    let inode: UInt64?
    let size: UInt64?
    let modified: Date?

    init(_ path: String) {
        // Through symbolic links: a Kubernetes ConfigMap changes by swapping the link's target.
        let attributes = try? FileManager.default.attributesOfItem(atPath: URL(filePath: path).resolvingSymlinksInPath().path)
        inode = (attributes?[.systemFileNumber] as? NSNumber)?.uint64Value
        size = (attributes?[.size] as? NSNumber)?.uint64Value
        modified = attributes?[.modificationDate] as? Date
    }
}
