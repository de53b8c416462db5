import Hummingbird
import Synchronization

/// `GET /health/live` (the process answers) and `GET /health/ready` (listening, with its model loaded
/// and warmed where the node serves one; not ready from the moment shutdown begins).
package struct HealthController {
    package let readiness: Readiness

    package init(readiness: Readiness) {
        self.readiness = readiness
    }

    package struct Status: Encodable { var status: String }

    package func addRoutes(to router: some RouterMethods<ConduitRequestContext>) {
        router.get("/health/live") { _, _ in try json(Status(status: "ok")) }
        router.get("/health/ready") { _, _ in
            readiness.isReady ? try json(Status(status: "ready")) : try json(Status(status: "starting"), status: .serviceUnavailable)
        }
    }
}

/// Whether the server should receive traffic: true once every model is warmed, false again while shutting down.
public final class Readiness: Sendable {
    private let ready = Atomic<Bool>(false)
    public init() {}
    public var isReady: Bool { ready.load(ordering: .acquiring) }
    public func set(_ value: Bool) { ready.store(value, ordering: .releasing) }
}
