import ConduitCore
import Foundation
import Logging
import ModelRuntime
import NIOPosix

/// Which model a node serves, and how: the `model.*` and `scheduler.*` settings.
public struct ModelSettings: Sendable, Equatable {
    public var model: ModelConfiguration
    /// Holds the model store.
    public var dataDirectory: URL
    public var scheduler: SchedulerConfiguration

    public init(model: ModelConfiguration, dataDirectory: URL, scheduler: SchedulerConfiguration) {
        self.model = model
        self.dataDirectory = dataDirectory
        self.scheduler = scheduler
    }
}

/// Loads the model `configuration` names (from its folder, the hub, or the default model's package),
/// warms it, and wraps it for serving with a scheduler of its own: at start, and when a reload names
/// another model.
public func loadServedModel(_ configuration: ModelSettings, metrics: ServerMetrics, logger: Logger) async throws -> ServedModel {
    let started = ContinuousClock.now
    let folder = try await resolveModelFolder(configuration, logger: logger)
    // Seconds of work that blocks its thread: off the cooperative pool, which serves the requests of
    // the model in use while a reload loads the next.
    let (model, tokensPerSecond) = try await NIOThreadPool.singleton.runIfActive {
        let model = try EmbeddingModel(directory: folder, precision: configuration.model.precision)
        return (model, try warmUp(model))
    }
    let (name, aliases) = servedNames(configuration, folder: folder)
    logger.notice(
        "model ready",
        metadata: [
            "name": "\(name)", "folder": "\(folder.path)", "dimension": "\(model.dimension)", "max_tokens": "\(model.maxSequenceLength)",
            "pooling": "\(model.pooling)", "kernel": "\(model.kernel)", "precision": "\(model.precision)",
            "compute": "\(model.computeEnvironment.summary)",
            "seconds": "\((ContinuousClock.now - started).formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 2))))",
        ])
    let scheduler = EmbeddingScheduler(
        backend: model, configuration: configuration.scheduler, logger: logger, metricsFactory: metrics.factory,
        tokensPerSecond: tokensPerSecond)
    return ServedModel(
        name: name, aliases: aliases, model: model, scheduler: scheduler, created: Int(Date().timeIntervalSince1970), folder: folder)
}

/// The id clients use for the model and its aliases: for a folder of the model store named
/// `owner--name`, `name` with `owner/name` as an alias; for any other folder, its name.
package func servedNames(_ configuration: ModelSettings, folder: URL) -> (String, [String]) {
    let folderName = folder.lastPathComponent
    let parts = folderName.components(separatedBy: "--")
    let repositoryID = parts.count == 2 ? parts.joined(separator: "/") : nil
    let name = configuration.model.servedName ?? (repositoryID == nil ? folderName : parts[1])
    return (name, configuration.model.aliases + [repositoryID].compactMap { $0 })
}

private func resolveModelFolder(_ configuration: ModelSettings, logger: Logger) async throws -> URL {
    if let folder = configuration.model.directory { return folder }
    let store = ModelStore(dataDirectory: configuration.dataDirectory)
    if let id = configuration.model.id {
        return try await HubDownloader(endpoint: configuration.model.hubEndpoint, store: store, logger: logger).download(id)
    }
    return try DefaultModel.locate(in: store, logger: logger)
}

/// One short and one longest-possible sequence, so the first real request finds every weight
/// page resident and the scratch memory already sized. A model that cannot run fails here, at start.
/// Runs a first pass (its scratch memory allocated, its code paged in), then times a second: the
/// node's pace on a full batch, which bounds the scheduler's queue in time from the first request on.
private func warmUp(_ model: EmbeddingModel) throws -> Double {
    let short = model.tokenize("warm up").ids
    let longest = model.tokenize(Array(repeating: "warm", count: model.maxSequenceLength).joined(separator: " ")).ids
    _ = try model.embed([short, longest])
    let start = ContinuousClock.now
    _ = try model.embed([short, longest])
    return Double(short.count + longest.count) / max((ContinuousClock.now - start) / .seconds(1), 1e-6)
}
