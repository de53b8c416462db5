import Foundation
import Store
import Synchronization

/// Runs the jobs of one kind. What it returns is stored with the job when it completes; a thrown
/// error is a failed attempt, retried after a backoff until the job's last attempt.
public protocol JobWorker: Sendable {
    /// The `kind` of the jobs it runs.
    var kind: String { get }
    /// Refuses, at submission, an input this worker cannot run (the error says why, as a 400 would).
    func validate(input: Data) throws
    func run(_ job: Job, progress: JobProgress) async throws -> JobOutcome
}

extension JobWorker {
    public func validate(input: Data) throws {}
}

/// A completed job's result: JSON shown with the job, and bulk output fetched on its own.
public struct JobOutcome: Sendable, Equatable {
    public var result: String
    public var output: Data?

    public init(result: String, output: Data? = nil) {
        self.result = result
        self.output = output
    }
}

/// How a running job reports how far it got (shown by the API and `conduit jobs watch`); reports are
/// written with the next renewal of the job's lease.
public final class JobProgress: Sendable {
    private let state = Mutex<(done: Int, total: Int?)>((0, nil))

    public init() {}

    public func report(done: Int, total: Int?) { state.withLock { $0 = (done, total) } }
    var current: (done: Int, total: Int?) { state.withLock { $0 } }
}
