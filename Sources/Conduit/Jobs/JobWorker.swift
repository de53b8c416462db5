import Store
import Synchronization

/// Runs the jobs of one kind. Its result (JSON) is stored with the job when it completes; a thrown
/// error is a failed attempt, retried after a backoff until the job's last attempt.
public protocol JobWorker: Sendable {
    /// The `kind` of the jobs it runs.
    var kind: String { get }
    func run(_ job: Job, progress: JobProgress) async throws -> String
}

/// How a running job reports how far it got (shown by the API and `conduit jobs watch`); reports are
/// written with the next renewal of the job's lease.
public final class JobProgress: Sendable {
    private let state = Mutex<(done: Int, total: Int?)>((0, nil))

    public init() {}

    public func report(done: Int, total: Int?) { state.withLock { $0 = (done, total) } }
    var current: (done: Int, total: Int?) { state.withLock { $0 } }
}
