/// Why the scheduler did not compute a request.
public enum SchedulerError: Error, Equatable, Sendable {
    /// The waiting queue is at its bound, or what waits would take the model longer than the request
    /// timeout; the caller should retry after `retryAfter`.
    case overloaded(queuedTokens: Int, queuedRequests: Int, retryAfter: Duration)
    /// The server is shutting down and admits nothing new.
    case shuttingDown
    /// The request waited past its deadline and was dropped before it was computed.
    case deadlineExceeded
}
