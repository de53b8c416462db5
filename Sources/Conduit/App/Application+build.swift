import Foundation
import Hummingbird
import Logging
import ModelRuntime

/// The HTTP application type `conduit serve` runs.
public typealias ConduitApplication = Application<RouterResponder<ConduitRequestContext>>

/// Loads the configured model, warms it, and builds the application around it; `readiness` turns
/// true once the server listens.
public func buildApplication(
    configuration: ServerConfiguration, readiness: Readiness = Readiness(), logger: Logger
) async throws -> ConduitApplication {
    try configuration.validate()
    let started = ContinuousClock.now
    let folder = try await resolveModelFolder(configuration, logger: logger)
    let model = try EmbeddingModel(directory: folder)
    try warmUp(model)
    logger.notice(
        "model ready",
        metadata: [
            "folder": "\(folder.path)", "dimension": "\(model.dimension)", "max_tokens": "\(model.maxSequenceLength)",
            "pooling": "\(model.pooling)",
            "seconds": "\((ContinuousClock.now - started).formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 2))))",
        ])
    let (name, aliases) = servedNames(configuration, folder: folder)
    let scheduler = EmbeddingScheduler(model: model, configuration: configuration.scheduler, logger: logger)
    let catalog = ModelCatalog(models: [
        ServedModel(
            name: name, aliases: aliases, scheduler: scheduler,
            created: Int(Date().timeIntervalSince1970))
    ])
    return buildApplication(catalog: catalog, configuration: configuration, readiness: readiness, logger: logger)
}

/// Builds the application around models already loaded (the tests share one model this way).
public func buildApplication(
    catalog: ModelCatalog, configuration: ServerConfiguration, readiness: Readiness = Readiness(),
    logger: Logger
) -> ConduitApplication {
    let router = Router(context: ConduitRequestContext.self)
    router.add(middleware: RequestIDMiddleware())
    router.add(middleware: BodyLimitMiddleware(maxBodyBytes: configuration.limits.maxBodyBytes))
    HealthController(readiness: readiness).addRoutes(to: router)
    ModelsController(catalog: catalog).addRoutes(to: router)
    EmbeddingsController(catalog: catalog, limits: configuration.limits).addRoutes(to: router)
    TokenizeController(catalog: catalog, limits: configuration.limits).addRoutes(to: router)
    return Application(
        router: router,
        server: .http1(configuration: .init(additionalChannelHandlers: [HangUpDetector()])),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "conduit"),
        services: catalog.models.map(\.scheduler),
        onServerRunning: { _ in readiness.set(true) },
        logger: logger
    )
}

/// The id clients use for the model and its aliases: for a folder of the model store named
/// `owner--name`, `name` with `owner/name` as an alias; for any other folder, its name.
func servedNames(_ configuration: ServerConfiguration, folder: URL) -> (String, [String]) {
    let folderName = folder.lastPathComponent
    let parts = folderName.components(separatedBy: "--")
    let repositoryID = parts.count == 2 ? parts.joined(separator: "/") : nil
    let name = configuration.servedModelName ?? (repositoryID == nil ? folderName : parts[1])
    return (name, configuration.modelAliases + [repositoryID].compactMap { $0 })
}

private func resolveModelFolder(_ configuration: ServerConfiguration, logger: Logger) async throws -> URL {
    if let folder = configuration.modelDirectory { return folder }
    let store = ModelStore(dataDirectory: configuration.dataDirectory)
    if let id = configuration.modelID {
        return try await HubDownloader(endpoint: configuration.hubEndpoint, store: store, logger: logger).download(id)
    }
    return try DefaultModel.locate(in: store, logger: logger)
}

/// One short and one longest-possible sequence, so the first real request finds every weight
/// page resident and the scratch memory already sized. A model that cannot run fails here, at start.
private func warmUp(_ model: EmbeddingModel) throws {
    let short = model.tokenize("warm up").ids
    let longest = model.tokenize(Array(repeating: "warm", count: model.maxSequenceLength).joined(separator: " ")).ids
    _ = try model.embed([short, longest])
}
