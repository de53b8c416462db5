import CoreMetrics

/// What the embedding scheduler reports: how full its queue is, how long requests wait in it, how
/// large the batches it forms are, and how long the model takes for them.
struct SchedulerMetrics: Sendable {
    static let batchSequencesLabel = "conduit_embedding_batch_sequences"
    static let batchTokensLabel = "conduit_embedding_batch_tokens"

    let queuedRequests: Gauge
    let queuedTokens: Gauge
    let queueWait: Timer
    let batchSequences: Recorder
    let batchTokens: Recorder
    let forward: Timer
    let tokens: Counter
    let rejectedOverloaded: Counter
    let rejectedShuttingDown: Counter
    let droppedDeadline: Counter
    let droppedAbandoned: Counter

    init(factory: any MetricsFactory) {
        queuedRequests = Gauge(label: "conduit_embedding_queue_requests", factory: factory)
        queuedTokens = Gauge(label: "conduit_embedding_queue_tokens", factory: factory)
        queueWait = Timer(label: "conduit_embedding_queue_wait_seconds", factory: factory)
        batchSequences = Recorder(label: Self.batchSequencesLabel, factory: factory)
        batchTokens = Recorder(label: Self.batchTokensLabel, factory: factory)
        forward = Timer(label: "conduit_embedding_forward_seconds", factory: factory)
        tokens = Counter(label: "conduit_embedding_tokens_total", factory: factory)
        rejectedOverloaded = Counter(label: "conduit_embedding_rejected_total", dimensions: [("reason", "overloaded")], factory: factory)
        rejectedShuttingDown = Counter(
            label: "conduit_embedding_rejected_total", dimensions: [("reason", "shutting_down")], factory: factory)
        droppedDeadline = Counter(label: "conduit_embedding_dropped_total", dimensions: [("reason", "deadline")], factory: factory)
        droppedAbandoned = Counter(label: "conduit_embedding_dropped_total", dimensions: [("reason", "client_gone")], factory: factory)
    }
}
