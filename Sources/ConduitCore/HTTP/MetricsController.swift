import Hummingbird
import NIOCore

/// `GET /metrics`: the Prometheus exposition, of the whole server. Mounted where the operator scope is
/// required (or open when authentication is off and the server listens on loopback only).
package struct MetricsController {
    package let metrics: ServerMetrics

    package init(metrics: ServerMetrics) {
        self.metrics = metrics
    }

    package func addRoutes(to router: some RouterMethods<ConduitRequestContext>) {
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
        }
    }
}
