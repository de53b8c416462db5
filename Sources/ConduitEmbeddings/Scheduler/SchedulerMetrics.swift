import ConduitCore
import CoreMetrics

/// What the embedding scheduler reports: how full its queue is, how long requests wait in it, how
/// large the batches it forms are, and how long the model takes for them.
package struct SchedulerMetrics: Sendable {

    package let queuedRequests: Gauge
    package let queuedTokens: Gauge
    package let queueWait: Timer
    package let batchSequences: Recorder
    package let batchTokens: Recorder
    package let forward: Timer
    package let tokens: Counter
    package let rejectedOverloaded: Counter
    package let rejectedShuttingDown: Counter
    package let droppedDeadline: Counter
    package let droppedAbandoned: Counter

    package init(factory: any MetricsFactory) {
        queuedRequests = Gauge(label: "conduit_embedding_queue_requests", factory: factory)
        queuedTokens = Gauge(label: "conduit_embedding_queue_tokens", factory: factory)
        queueWait = Timer(label: "conduit_embedding_queue_wait_seconds", factory: factory)
        batchSequences = Recorder(label: MetricNames.embeddingBatchSequences, factory: factory)
        batchTokens = Recorder(label: MetricNames.embeddingBatchTokens, factory: factory)
        forward = Timer(label: "conduit_embedding_forward_seconds", factory: factory)
        tokens = Counter(label: "conduit_embedding_tokens_total", factory: factory)
        rejectedOverloaded = Counter(label: "conduit_embedding_rejected_total", dimensions: [("reason", "overloaded")], factory: factory)
        rejectedShuttingDown = Counter(
            label: "conduit_embedding_rejected_total", dimensions: [("reason", "shutting_down")], factory: factory)
        droppedDeadline = Counter(label: "conduit_embedding_dropped_total", dimensions: [("reason", "deadline")], factory: factory)
        droppedAbandoned = Counter(label: "conduit_embedding_dropped_total", dimensions: [("reason", "client_gone")], factory: factory)
    }
}
