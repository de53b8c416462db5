import Foundation
import Hummingbird
import Logging
import ModelRuntime
import NIOCore
import ServiceLifecycle
import Store

/// The HTTP application type `conduit serve` runs.
public typealias ConduitApplication = Application<RouterResponder<ConduitRequestContext>>

/// Loads the configured model, warms it, and builds the application around it; `readiness` turns
/// true once the server listens.
///
/// With a `source`, the configuration is reloaded from it on SIGHUP and when its file changes; a
/// reload sets `logLevels`, the levels the process's log handlers follow.
public func buildApplication(
    configuration: ServerConfiguration, reloadingFrom source: ConfigurationSource? = nil, logLevels: LiveLogLevels? = nil,
    readiness: Readiness = Readiness(), logger: Logger
) async throws -> ConduitApplication {
    try configuration.validate()
    let metrics = ServerMetrics()
    let served = try await loadServedModel(configuration, metrics: metrics, logger: logger)
    let store = try await Database.open(configuration.databaseLocation, logger: logger)
    do {
        let applied = try await store.migrate()
        if !applied.isEmpty { logger.notice("database migrated", metadata: ["database": "\(store.location)", "versions": "\(applied)"]) }
        if configuration.authentication,
            let secret = try await AdminBootstrap.ensureAdminKey(in: store, logger: logger, given: configuration.adminKey)
        {
            // Standard output, not the log, and unbuffered: the secret is shown to the operator once and kept nowhere.
            FileHandle.standardOutput.write(Data("conduit: the first admin API key (shown once, stored only as a hash):\n\(secret)\n".utf8))
        }
    } catch {
        await store.close()
        throw error
    }
    let catalog = ModelCatalog(models: [served])
    let live = LiveConfiguration(configuration)
    var application = try buildApplication(
        catalog: catalog, configuration: live, readiness: readiness, store: store, metrics: metrics, logger: logger)
    if let source {
        application.services.append(
            ConfigurationReloader(
                source: source, live: live, catalog: catalog, logLevels: logLevels, metricsFactory: metrics.factory, logger: logger,
                loadModel: { try await loadServedModel($0, metrics: metrics, logger: logger) }))
    }
    // Services shut down in reverse order, and the HTTP server comes last: the store must come first, so
    // that it closes only after the server has answered, the schedulers drained and the usage recorder
    // written its last events.
    let storeServices: [any Service] = [DatabaseService(store: store), StoreMaintenance(store: store, configuration: live, logger: logger)]
    application.services.insert(contentsOf: storeServices, at: 0)
    return application
}

/// Builds the application around models already loaded and a store already migrated (the tests
/// share one model this way). `store` may be nil only with authentication off; its owner closes it.
/// `metrics` should be the one the catalog's schedulers report to.
public func buildApplication(
    catalog: ModelCatalog, configuration live: LiveConfiguration, readiness: Readiness = Readiness(),
    store: Database? = nil, metrics: ServerMetrics = ServerMetrics(), logger: Logger
) throws -> ConduitApplication {
    // What only a restart changes is read once, here; the rest per request, from `live`.
    let configuration = live.current
    try configuration.validate()
    let router = Router(context: ConduitRequestContext.self)
    let connections = ConnectionLimiter.Count(limit: configuration.maxConnections)
    // Outermost: the headers go on every answer, the ones RequestIDMiddleware renders from errors included;
    // the metrics count answers, errors rendered included.
    router.add(middleware: SecurityHeadersMiddleware())
    router.add(middleware: HTTPMetricsMiddleware(factory: metrics.factory, configuration: live))
    // A span per request (joining the client's trace when it sends a traceparent), with the request id
    // the answer carries, to go from a log line to its trace; errors are answers by the time it sees them.
    router.add(middleware: TracingMiddleware(recordingHeaders: [.requestID]))
    router.add(middleware: RequestIDMiddleware())
    router.add(middleware: CORSAllowList(configuration: live))
    router.add(middleware: RequestDeadlineMiddleware(timeout: configuration.requestDeadline))
    router.add(middleware: BodyLimitMiddleware(configuration: live))
    let accessTokens = try configuration.jwtSecret.map { try AccessTokens(secret: $0) }
    if configuration.authentication {
        guard let store else { throw ConfigurationError("authentication needs a database for its API keys") }
        router.add(middleware: APIKeyAuthenticator(store: store, accessTokens: accessTokens))
        if let accessTokens { AuthController(store: store, accessTokens: accessTokens).addRoutes(to: router) }
    }
    // After authentication: a key's requests are selected by its id.
    let requestLog = store.map { RequestRecorder(store: $0, logger: logger) }
    if let requestLog { router.add(middleware: RequestLogMiddleware(configuration: live, recorder: requestLog)) }
    func requiring(_ scope: Scope?) -> RouterGroup<ConduitRequestContext> {
        let group = router.group()
        if let scope { group.add(middleware: RequireScope(scope: scope, authentication: configuration.authentication)) }
        return group
    }
    HealthController(readiness: readiness).addRoutes(to: router)
    // Any valid key may list models; the admin API (later) requires .admin.
    ModelsController(catalog: catalog).addRoutes(to: requiring(nil))
    let usage = store.map { UsageRecorder(store: $0, logger: logger) }
    let rateLimiter = store.map { RateLimiter(store: $0, metricsFactory: metrics.factory) }
    EmbeddingsController(
        catalog: catalog, configuration: live, rateLimiter: rateLimiter, usage: usage, usageMetrics: UsageMetrics(factory: metrics.factory)
    )
    .addRoutes(to: requiring(.embeddings))
    var jobRunner: JobRunner?
    var outboundClient: OutboundHTTPClient?
    if let store {
        AdminController(store: store, configuration: live).addRoutes(to: requiring(.admin))
        let teams = TeamScope(store: store)
        let embeddingJobs = EmbeddingJobWorker(catalog: catalog, configuration: live, usage: usage)
        let outbound = OutboundHTTPClient()
        outboundClient = outbound
        let chatClient = ChatCompletionClient(http: outbound, configuration: live, metricsFactory: metrics.factory)
        let insightJobs = InsightJobWorker(
            store: store, configuration: live, embedder: TextEmbedder(catalog: catalog), client: chatClient, usage: usage,
            usageMetrics: UsageMetrics(factory: metrics.factory), metrics: InsightMetrics(factory: metrics.factory))
        let webhookDeliveries = WebhookDeliveryWorker(store: store, http: outbound, configuration: live)
        let runner = JobRunner(
            store: store, workers: [embeddingJobs, insightJobs, webhookDeliveries], configuration: configuration.jobs,
            metricsFactory: metrics.factory,
            logger: logger)
        // Insights jobs are made by /v1/conversations, with their conversation; /v1/jobs takes the other kinds.
        JobsController(store: store, teams: teams, runner: runner, workers: [embeddingJobs], configuration: live)
            .addRoutes(to: requiring(.jobs))
        ConversationsController(teams: teams, runner: runner, configuration: live, rateLimiter: rateLimiter)
            .addRoutes(submitting: requiring(.jobs), reading: requiring(.insights))
        WebhooksController(teams: teams, runner: runner, configuration: live).addRoutes(to: requiring(.admin))
        jobRunner = runner
    }
    MetricsController(metrics: metrics).addRoutes(to: requiring(.admin))
    DebugController(catalog: catalog, configuration: live, started: .now).addRoutes(to: requiring(.admin))
    TokenizeController(catalog: catalog, configuration: live).addRoutes(to: requiring(.embeddings))
    // Shut down in reverse order: jobs stop, the schedulers drain, then the last usage events and logged requests are written.
    var services: [any Service] = []
    if let usage { services.append(usage) }
    if let requestLog { services.append(requestLog) }
    services.append(catalog)
    // Closes its connections once the jobs that call it have stopped.
    if let outboundClient { services.append(outboundClient) }
    // Stops before the models it runs jobs on.
    if let jobRunner { services.append(jobRunner) }
    return Application(
        router: router,
        server: .http1(
            configuration: .init(
                additionalChannelHandlers: [ConnectionLimiter(count: connections), HangUpDetector()],
                idleTimeout: TimeAmount(configuration.idleTimeout))),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "conduit"),
        services: services,
        onServerRunning: { _ in readiness.set(true) },
        logger: logger
    )
}
