import ConduitCore

extension SchedulerConfiguration {
    /// `scheduler.*`: the size of a forward pass and the bounds of the queue in front of it.
    package static let settings: [Setting<SchedulerConfiguration>] = [
        .integer("scheduler.max_batch_tokens", 1...1_048_576, reloadable: true, \.maxBatchTokens, help: "most tokens in one forward pass"),
        .integer(
            "scheduler.max_batch_requests", 1...65_536, reloadable: true, \.maxBatchSequences, help: "most sequences in one forward pass"),
        .integer(
            "scheduler.max_background_batch_tokens", 1...1_048_576, reloadable: true, \.maxBackgroundBatchTokens,
            help: "most tokens of batch-job texts in one pass: an API request waits at most that"),
        .integer(
            "scheduler.max_queued_tokens", 1...1 << 30, reloadable: true, \.maxQueuedTokens,
            help: "most tokens waiting for a batch; beyond, 503 with Retry-After"),
        .integer(
            "scheduler.max_queued_requests", 1...1 << 24, reloadable: true, \.maxQueuedRequests,
            help: "most requests waiting for a batch; beyond, 503 with Retry-After"),
        .seconds(
            "scheduler.request_timeout_seconds", reloadable: true, \.requestTimeout,
            help: "longest a request may wait for its batch, then 503; one whose wait would be longer is refused at once"),
    ]
}

extension SchedulerConfiguration {
    /// Refuses bounds a scheduler cannot work with, naming the setting.
    package func validate() throws {
        for (name, value) in [
            ("scheduler.max_batch_tokens", maxBatchTokens), ("scheduler.max_batch_requests", maxBatchSequences),
            ("scheduler.max_queued_tokens", maxQueuedTokens), ("scheduler.max_queued_requests", maxQueuedRequests),
        ] where value < 1 {
            throw ConfigurationError("\(name) must be at least 1, got \(value)")
        }
        guard requestTimeout > .zero else { throw ConfigurationError("scheduler.request_timeout_seconds must be positive") }
    }
}
