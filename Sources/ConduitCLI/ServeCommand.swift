import ArgumentParser
import Conduit
import ConduitCore
import ConduitJobs
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import Tracing
import UnixSignals

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTP server.",
        discussion: """
            Settings come from, highest priority first: these options, CONDUIT_* environment variables \
            (CONDUIT_SERVER_PORT for server.port), and the file given by --config (see conduit.example.yaml). \
            `conduit config check` prints what is in effect. On SIGHUP, and when the file changes, the \
            configuration is loaded again: the model (loaded and warmed before it takes over), limits, scheduler \
            bounds, CORS origins, latency objectives, prices, the request log and log levels change at once; other \
            changes are logged as needing a restart; an invalid file, or a model that does not load, is refused \
            and the running configuration stays.
            """
    )

    @OptionGroup var settings: SettingOptions

    func run() async throws {
        let source = try settings.source()
        let loaded = try await settings.load(source)
        let configuration = loaded.configuration
        let (logger, logLevels) = try bootstrapLogging(level: configuration.logging.level, format: configuration.logging.format)
        for warning in loaded.warnings { logger.warning("\(warning)") }
        if configuration.auth.adminKey != nil && !configuration.auth.enabled {
            logger.warning("an admin key is configured but authentication is off (auth.enabled); the key is not used")
        }
        // Services stop in reverse order: the exporter last, so that the last requests' spans are sent.
        var services: [any Service] = []
        if let (tracer, exporter) = try configuration.tracing.makeTracer(logger: logger) {
            InstrumentationSystem.bootstrap(tracer)
            services.append(exporter)
            logger.notice(
                "exporting traces",
                metadata: [
                    "collector": "\(configuration.tracing.endpoint?.host() ?? "")",
                    "protocol": "\(configuration.tracing.encoding.rawValue)",
                ])
        }
        let readiness = Readiness()
        let app = try await buildApplication(
            configuration: configuration, reloadingFrom: source, logLevels: logLevels, readiness: readiness, logger: logger)
        services.append(ReadinessOnShutdown(app, readiness: readiness))
        var group = ServiceGroupConfiguration(services: services.map { .init(service: $0) }, logger: logger)
        group.gracefulShutdownSignals = [.sigterm, .sigint]
        // Running jobs get their grace, requests a little more to drain; past it whatever still waits (a
        // database that does not answer) is cancelled, and past that the process exits regardless.
        group.maximumGracefulShutdownDuration = configuration.jobs.shutdownGrace + .seconds(5)
        group.maximumCancellationDuration = .seconds(5)
        try await ServiceGroup(configuration: group).run()
    }
}
