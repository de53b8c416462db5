import ConduitAdmin
import ConduitAgents
import ConduitChat
import ConduitCore
import ConduitEmbeddings
import ConduitEvents
import ConduitInsights
import ConduitJobs
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Store
import Tracing

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
    // A node without the embeddings feature loads no model.
    let served =
        configuration.server.nodeFeatures.contains(.embeddings)
        ? try await loadServedModel(configuration.modelSettings, metrics: metrics, logger: logger) : nil
    let store = try await Database.open(configuration.databaseLocation, logger: logger)
    do {
        let applied = try await store.migrate()
        if !applied.isEmpty { logger.notice("database migrated", metadata: ["database": "\(store.location)", "versions": "\(applied)"]) }
        if configuration.auth.enabled,
            let secret = try await AdminBootstrap.ensureAdminKey(in: store, logger: logger, given: configuration.auth.adminKey)
        {
            // Standard output, not the log, and unbuffered: the secret is shown to the operator once and kept nowhere.
            FileHandle.standardOutput.write(Data("conduit: the first admin API key (shown once, stored only as a hash):\n\(secret)\n".utf8))
        }
    } catch {
        await store.close()
        throw error
    }
    let catalog = served.map { ModelCatalog(models: [$0]) }
    let live = LiveConfiguration(configuration)
    var application = try buildApplication(
        catalog: catalog, configuration: live, readiness: readiness, store: store, metrics: metrics, logger: logger)
    if let source {
        application.services.append(
            ConfigurationReloader(
                source: source, live: live, catalog: catalog, logLevels: logLevels, store: store, metricsFactory: metrics.factory,
                logger: logger,
                loadModel: { try await loadServedModel($0.modelSettings, metrics: metrics, logger: logger) }))
    }
    // Services shut down in reverse order, and the HTTP server comes last: the store must come first, so
    // that it closes only after the server has answered, the schedulers drained and the usage recorder
    // written its last events.
    let storeServices: [any Service] = [DatabaseService(store: store), StoreMaintenance(store: store, configuration: live, logger: logger)]
    application.services.insert(contentsOf: storeServices, at: 0)
    return application
}

/// Builds the application around models already loaded and a store already migrated (the tests
/// share one model this way). `catalog` may be nil only without the embeddings feature, `store` only
/// with authentication off; its owner closes it. `metrics` should be the one the catalog's schedulers
/// report to.
public func buildApplication(
    catalog: ModelCatalog?, configuration live: LiveConfiguration, readiness: Readiness = Readiness(),
    store: Database? = nil, metrics: ServerMetrics = ServerMetrics(), routes table: RouteTable = RouteTable(), logger: Logger
) throws -> ConduitApplication {
    // What only a restart changes is read once, here; the rest per request, from `live`.
    let configuration = live.current
    try configuration.validate()
    let router = Router(context: ConduitRequestContext.self)
    let routing = RecordingRouter(router, table: table)
    // Validated with the configuration: every entry is an address or a range.
    let proxies = TrustedProxies(configuration.server.trustedProxies) ?? TrustedProxies([])!
    let connections = ConnectionLimiter.Count(
        limit: configuration.server.maxConnections, perAddress: configuration.server.maxConnectionsPerAddress,
        trustedProxies: proxies)
    // Outermost: the headers go on every answer, the ones RequestIDMiddleware renders from errors included;
    // the metrics count answers, errors rendered included.
    router.add(middleware: EventLoopAffinity())
    router.add(middleware: SecurityHeadersMiddleware())
    router.add(middleware: HTTPMetricsMiddleware(factory: metrics.factory, latencyObjectives: live.view(\.server.latencyObjectives)))
    // A span per request (joining the client's trace when it sends a traceparent), with the request id
    // the answer carries, to go from a log line to its trace; errors are answers by the time it sees them.
    // Only where traces go somewhere: with no tracer it would still make every request's span attributes, to drop them.
    if !(InstrumentationSystem.tracer is NoOpTracer) { router.add(middleware: TracingMiddleware(recordingHeaders: [.requestID])) }
    // Outside the error renderer: the version that served it goes on every answer, errors included.
    router.add(middleware: APIVersionEcho(versions: .current))
    router.add(middleware: ClientAddressMiddleware(proxies: proxies))
    router.add(middleware: RequestIDMiddleware())
    router.add(middleware: MethodNotAllowedMiddleware(routes: table))
    router.add(middleware: APIVersionSelection(versions: .current))
    router.add(middleware: CORSAllowList(origins: live.view(\.server.corsOrigins)))
    let deadline = configuration.server.requestDeadline
    let chatTimeout = live.view(\.chat.totalTimeout)
    router.add(
        middleware: RequestDeadlineMiddleware { path in
            // A chat call bounds itself (chat.total_timeout_seconds, then 504), and may rightly take longer than
            // other requests: its deadline is that bound, with time to answer.
            // An agent's turn is a chat call too, after its place in the session's queue: room for one call ahead of it.
            if path == ChatCompletionsController.route { return max(deadline, chatTimeout.current + .seconds(5)) }
            if path.hasPrefix("/v1/sessions/"), path.hasSuffix("/turns") { return max(deadline, chatTimeout.current * 2 + .seconds(5)) }
            return deadline
        })
    router.add(middleware: BodyLimitMiddleware(limits: live.view(\.limits)))
    let accessTokens = try configuration.auth.jwtSecret.map { try AccessTokens(secret: $0) }
    let running = configuration.server.nodeFeatures
    if let store {
        store.secretSealer = configuration.webhooks.sealer
        if configuration.auth.enabled, running.contains(.webhooks), !store.secretSealer.isSealing {
            logger.warning("webhook signing secrets are stored in clear: set webhooks.secrets_key_file (conduit webhooks new-key)")
        }
    }
    if configuration.auth.enabled {
        guard let store else { throw ConfigurationError("authentication needs a database for its API keys") }
        store.authenticatedKeys.lifetime = configuration.auth.keyCacheLifetime
        router.add(middleware: APIKeyAuthenticator(store: store, accessTokens: accessTokens))
        if let accessTokens, running.contains(.admin) { AdminFeature.addLoginRoutes(to: routing, store: store, accessTokens: accessTokens) }
    }
    // After authentication: a key's requests are selected by its id.
    let requestLog = store.map { RequestRecorder(store: $0, logger: logger) }
    if let requestLog {
        router.add(middleware: RequestLogMiddleware(settings: live.view(\.requestLog), limits: live.view(\.limits), recorder: requestLog))
    }
    let routes = FeatureRoutes(router: routing, authentication: configuration.auth.enabled)
    HealthController(readiness: readiness).addRoutes(to: routing)
    OpenAPIDocument.addRoute(to: routing)
    VersionsController(versions: .current).addRoutes(to: routes.requiring(nil))
    MetricsController(metrics: metrics).addRoutes(to: routes.requiring(.operator))

    let usage = store.map { UsageRecorder(store: $0, logger: logger) }
    let meter = UsageMeter(recorder: usage, metrics: UsageMetrics(factory: metrics.factory), prices: live.view(\.usage.prices))
    let rateLimiter = store.map { RateLimiter(store: $0, metricsFactory: metrics.factory) }
    var features: [any ConduitFeature] = []
    var embeddings: EmbeddingsFeature?
    if running.contains(.embeddings) {
        guard let catalog else { throw ConfigurationError("server.features: embeddings needs a model to serve") }
        embeddings = EmbeddingsFeature(
            catalog: catalog, limits: live.view(\.limits), scheduler: live.view(\.scheduler), node: live.node, rateLimiter: rateLimiter,
            meter: meter, runsJobs: store != nil)
    }
    // Shared by the features that call out: closes its connections once the jobs that call it have stopped.
    var outbound: OutboundHTTPClient?
    if store != nil || running.contains(.chat) { outbound = OutboundHTTPClient() }
    // The node's way to the model providers (its own embedding models among them): the chat and embeddings
    // APIs', and the llm: pipelines' of insights.
    var gateway: ChatGateway?
    if let outbound, running.contains(.chat) || running.contains(.insights) {
        gateway = ChatGateway(
            configuration: live.view(\.chat), outbound: outbound, local: embeddings?.local, metricsFactory: metrics.factory)
    }
    if running.contains(.chat), let gateway {
        let remote = GatewayEmbeddings(
            gateway: gateway, rateLimiter: rateLimiter, meter: meter, requestDeadline: live.view(\.server.requestDeadline))
        embeddings?.remote = remote
        features.append(
            ChatFeature(
                gateway: gateway, limits: live.view(\.limits), store: store, rateLimiter: rateLimiter, meter: meter,
                ownsEmbeddingsRoute: embeddings == nil ? remote : nil))
    }
    if let embeddings { features.insert(embeddings, at: 0) }
    var runner: JobRunner?
    if let store, let http = outbound {
        let teams = TeamScope(store: store)
        if running.contains(.insights), let catalog, let gateway {
            features.append(
                InsightsFeature(
                    teams: teams, limits: live.view(\.limits), pipelines: live.view(\.insights.pipelines), rateLimiter: rateLimiter,
                    embedder: TextEmbedder(catalog: catalog),
                    gateway: gateway,
                    meter: meter, metrics: InsightMetrics(factory: metrics.factory)))
        }
        if running.contains(.agents), let catalog {
            features.append(
                AgentsFeature(
                    teams: teams, configuration: live.view(\.agents), embedder: TextEmbedder(catalog: catalog), limits: live.view(\.limits),
                    rateLimiter: rateLimiter, chat: features.lazy.compactMap { $0 as? ChatFeature }.first?.completions))
        }
        if running.contains(.webhooks) {
            features.append(
                EventsFeature(
                    teams: teams, settings: live.view(\.webhooks), events: live.view(\.events), limits: live.view(\.limits), http: http,
                    catalogue: NodeFeature.eventTypes, socketOperations: features.flatMap(\.socketOperations), logger: logger))
        }
        if running.contains(.admin) {
            features.append(AdminFeature(store: store, prices: live.view(\.usage.prices)))
        }
        // One runner for every feature's workers: it claims only the kinds this node runs.
        let workers = features.flatMap(\.jobWorkers)
        let jobRunner = JobRunner(
            store: store, workers: workers, configuration: configuration.jobs, metricsFactory: metrics.factory, logger: logger)
        runner = jobRunner
        if running.contains(.jobs) {
            features.append(
                JobsFeature(teams: teams, runner: jobRunner, workers: workers, limits: live.view(\.limits), rateLimiter: rateLimiter))
        }
    }
    let queues: any JobQueues = runner.map { $0 as any JobQueues } ?? NoJobQueues()
    for feature in features { feature.addRoutes(to: routes, queues: queues) }
    // Any valid key may list the models, those of every feature the node runs.
    let listing = features
    ModelsController { listing.flatMap(\.models) }.addRoutes(to: routes.requiring(nil))

    // Services stop in reverse order: jobs stop first, then the outbound client they call, the schedulers
    // drain, and the last usage events and logged requests are written.
    var services: [any Service] = []
    if let usage { services.append(usage) }
    if let requestLog { services.append(requestLog) }
    services += features.flatMap(\.services)
    if let gateway { services.append(gateway.states) }
    if let outbound { services.append(outbound) }
    // Stops first: its jobs use the models and the outbound client.
    if let runner { services.append(runner) }
    // Handshakes are routed as every request is: the same responder, built once more for the channel.
    let handshakes = router.buildResponder()
    let idleTimeout = configuration.server.idleTimeout
    let webSocketPaths = Set(features.flatMap(\.webSocketPaths))
    return Application(
        router: router,
        server: .conduit(
            route: { try await handshakes.respond(to: $0, context: $1) }, webSocketPaths: webSocketPaths,
            additionalChannelHandlers: { [ConnectionLimiter(count: connections), HangUpDetector()] },
            idleTimeout: idleTimeout),
        configuration: .init(address: .hostname(configuration.server.host, port: configuration.server.port), serverName: "conduit"),
        services: services,
        onServerRunning: { _ in readiness.set(true) },
        logger: logger
    )
}

/// The queues of a node that stores no jobs: it serves none.
private struct NoJobQueues: JobQueues {
    func serves(_ queue: String) -> Bool { false }
    func wake(_ queue: String) {}
    var maxWaitingPerTeam: Int { 0 }
}
