/// Why the scheduler did not compute a request.
public enum SchedulerError: Error, Equatable, Sendable {
    /// The waiting queue is at its bound; the caller should retry later.
    case overloaded(queuedTokens: Int, queuedRequests: Int)
    /// The server is shutting down and admits nothing new.
    case shuttingDown
    /// The request waited past its deadline and was dropped before it was computed.
    case deadlineExceeded
}
