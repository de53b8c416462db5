import Foundation
import NIOCore
import Store
import Synchronization

/// Runs the jobs of one kind. What it returns is stored with the job when it completes; a thrown
/// error is a failed attempt, retried after a backoff until the job's last attempt.
public protocol JobWorker: Sendable {
    /// The `kind` of the jobs it runs.
    var kind: String { get }
    /// Whether clients submit this kind through `/v1/jobs`; other kinds are made by their feature's own
    /// routes (a conversation's analysis, a webhook's delivery).
    var isSubmittable: Bool { get }
    /// The queue a submission goes to when it names none.
    var defaultQueue: String { get }
    /// Refuses, at submission, an input this worker cannot run (the error says why, as a 400 would).
    func validate(input: Data) throws
    func run(_ job: Job, progress: JobProgress) async throws -> JobOutcome
    /// A completed job's output in `format`, for `GET /v1/jobs/{id}/output?format=`; nil when this kind
    /// has no such format (the raw bytes are always there as `float32`).
    func formattedOutput(_ output: Data, result: String, format: String) throws -> (contentType: String, body: ByteBuffer)?
}

extension JobWorker {
    public var isSubmittable: Bool { false }
    public var defaultQueue: String { "default" }
    public func validate(input: Data) throws {}
    public func formattedOutput(_ output: Data, result: String, format: String) throws -> (contentType: String, body: ByteBuffer)? { nil }
}

/// A completed job's result: JSON shown with the job, and bulk output fetched on its own.
public struct JobOutcome: Sendable, Equatable {
    public var result: String
    public var output: Data?
    /// What the job is billed, stored in the transaction that completes it: an attempt that never
    /// completes (its node killed, its lease lost) bills nothing, and a job is billed once.
    public var usage: [UsageEvent]

    public init(result: String, output: Data? = nil, usage: [UsageEvent] = []) {
        self.result = result
        self.output = output
        self.usage = usage
    }

    /// A result written as the API writes JSON.
    package init(encoding result: some Encodable, output: Data? = nil, usage: [UsageEvent] = []) throws {
        self.init(result: String(decoding: try wireJSON(result), as: UTF8.self), output: output, usage: usage)
    }
}

/// How a running job reports how far it got (shown by the API and `conduit jobs watch`); reports are
/// written with the next renewal of the job's lease.
public final class JobProgress: Sendable {
    private let state = Mutex<(done: Int, total: Int?)>((0, nil))

    public init() {}

    public func report(done: Int, total: Int?) { state.withLock { $0 = (done, total) } }
    package var current: (done: Int, total: Int?) { state.withLock { $0 } }
}
