import ServiceLifecycle

/// Runs the application and turns `readiness` false the moment graceful shutdown begins.
///
/// Hummingbird shuts its HTTP server down first and keeps answering on open connections while
/// in-flight requests finish; without this, `/health/ready` would say "ready" throughout, and a
/// load balancer would go on sending new work to a server that is leaving.
public struct ReadinessOnShutdown<Application: Service>: Service {
    package let application: Application
    package let readiness: Readiness

    public init(_ application: Application, readiness: Readiness) {
        self.application = application
        self.readiness = readiness
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await application.run()
        } onGracefulShutdown: {
            readiness.set(false)
        }
    }
}
