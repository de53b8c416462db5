/// Limits of the embedding scheduler.
///
/// Keys (command-line options of `conduit serve`): `--max-batch-tokens`, `--max-batch-requests`,
/// `--max-queued-tokens`, `--max-queued-requests`, `--request-timeout`.
public struct SchedulerConfiguration: Sendable, Equatable {
    public var maxBatchTokens: Int
    public var maxBatchSequences: Int
    public var maxQueuedTokens: Int
    public var maxQueuedRequests: Int
    /// How long a request may wait for its turn before it is dropped with a 503.
    public var requestTimeout: Duration
    /// Most tokens of batch-job texts in one forward pass, so that an API request arriving during one
    /// waits little; batch jobs run in passes this size when nothing else waits.
    public var maxBackgroundBatchTokens = 256

    public init(
        maxBatchTokens: Int = 2048, maxBatchSequences: Int = 128, maxQueuedTokens: Int = 262_144,
        maxQueuedRequests: Int = 1024, requestTimeout: Duration = .seconds(30)
    ) {
        self.maxBatchTokens = maxBatchTokens
        self.maxBatchSequences = maxBatchSequences
        self.maxQueuedTokens = maxQueuedTokens
        self.maxQueuedRequests = maxQueuedRequests
        self.requestTimeout = requestTimeout
    }
}

/// Whether an embedding request goes ahead of others (an API call) or runs in what they leave of each
/// batch (a batch job).
public enum EmbeddingPriority: Sendable {
    case interactive, background
}
