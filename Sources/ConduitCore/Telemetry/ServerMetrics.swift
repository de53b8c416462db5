import CoreMetrics
import Foundation
import Prometheus

/// Where the server's metrics go: a Prometheus registry, fed through swift-metrics, and exposed at
/// `/metrics`. Each server has its own (the tests run several in one process); the code that counts
/// things sees only a swift-metrics factory.
public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let factory: any MetricsFactory
    private let residentMemory: CoreMetrics.Gauge

    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // From a cached tiny request to a long batch under load.
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
        ]
        factory.valueHistogramBuckets = [
            MetricNames.embeddingBatchSequences: [1, 2, 4, 8, 16, 32, 64, 128, 256],
            MetricNames.embeddingBatchTokens: [16, 64, 256, 1024, 2048, 4096, 8192, 16384],
        ]
        self.factory = factory
        residentMemory = CoreMetrics.Gauge(label: "process_resident_memory_bytes", factory: factory)
    }

    /// The Prometheus text exposition of every metric, process memory read now.
    public func exposition() -> [UInt8] {
        if let bytes = ProcessMemory.residentBytes() { residentMemory.record(bytes) }
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}
