import Foundation
import SQLKit

/// Where a job is in its life. `scheduled` (due later) and `available` wait for a worker; a failed
/// attempt makes a job `retryable` (due after its backoff) or, at its last attempt, `discarded`.
public enum JobState: String, Sendable, Codable, CaseIterable {
    case scheduled, available, running, completed, retryable, discarded, cancelled

    /// Done for good: nothing runs it again unless it is retried by hand.
    public var isFinished: Bool { self == .completed || self == .discarded || self == .cancelled }
    /// Waiting for a worker.
    static let waiting: [JobState] = [.scheduled, .available, .retryable]
}

/// One failed attempt, as the job's history keeps it.
public struct JobAttemptError: Sendable, Codable, Equatable {
    public var attempt: Int
    /// Milliseconds since 1970.
    public var at: Int64
    public var message: String

    public init(attempt: Int, at: Int64, message: String) {
        self.attempt = attempt
        self.at = at
        self.message = message
    }
}

/// Work to be done out of the request path, as the queue keeps it. Times are milliseconds since 1970.
public struct Job: Sendable, Equatable {
    public var id: String
    public var teamID: String
    /// The API key that submitted it, whose limits (and its team's) its work counts against; nil when a
    /// user submitted it, or Conduit itself.
    public var keyID: String?
    /// What runs it: the worker registered for this kind.
    public var kind: String
    public var queue: String
    public var state: JobState
    /// 0 runs first, 9 last.
    public var priority: Int
    /// JSON, as submitted.
    public var input: String
    /// JSON, once completed.
    public var result: String?
    public var errors: [JobAttemptError]
    /// Attempts started so far.
    public var attempt: Int
    public var maxAttempts: Int
    public var runAt: Int64
    /// Discarded if no attempt started before then; a retry by hand clears it.
    public var expiresAt: Int64?
    public var createdAt: Int64
    public var attemptedAt: Int64?
    public var finishedAt: Int64?
    /// While running: the node that holds it, until when unless it renews the lease.
    public var lockedBy: String?
    public var leaseExpiresAt: Int64?
    public var idempotencyKey: String?
    /// The W3C `traceparent` of the request that submitted it: its attempts join that trace.
    public var traceContext: String?
    public var progressDone: Int
    public var progressTotal: Int?

    static let columns: SQLQueryString = """
        id, team_id, key_id, kind, queue, state, priority, input, result, errors, attempt, max_attempts, run_at, expires_at, created_at,
        attempted_at, finished_at, locked_by, lease_expires_at, idempotency_key, trace_context, progress_done, progress_total
        """

    init(row: any SQLRow) throws {
        id = try row.decode(column: "id", as: String.self)
        teamID = try row.decode(column: "team_id", as: String.self)
        keyID = try row.decode(column: "key_id", as: String?.self)
        kind = try row.decode(column: "kind", as: String.self)
        queue = try row.decode(column: "queue", as: String.self)
        let stateName = try row.decode(column: "state", as: String.self)
        guard let state = JobState(rawValue: stateName) else {
            throw StoreError.invalidValue("job \(id) has an unknown state '\(stateName)'")
        }
        self.state = state
        priority = try row.decode(column: "priority", as: Int.self)
        input = try row.decode(column: "input", as: String.self)
        result = try row.decode(column: "result", as: String?.self)
        errors = try JSONDecoder().decode([JobAttemptError].self, from: Data(try row.decode(column: "errors", as: String.self).utf8))
        attempt = try row.decode(column: "attempt", as: Int.self)
        maxAttempts = try row.decode(column: "max_attempts", as: Int.self)
        runAt = try row.decode(column: "run_at", as: Int64.self)
        expiresAt = try row.decode(column: "expires_at", as: Int64?.self)
        createdAt = try row.decode(column: "created_at", as: Int64.self)
        attemptedAt = try row.decode(column: "attempted_at", as: Int64?.self)
        finishedAt = try row.decode(column: "finished_at", as: Int64?.self)
        lockedBy = try row.decode(column: "locked_by", as: String?.self)
        leaseExpiresAt = try row.decode(column: "lease_expires_at", as: Int64?.self)
        idempotencyKey = try row.decode(column: "idempotency_key", as: String?.self)
        traceContext = try row.decode(column: "trace_context", as: String?.self)
        progressDone = try row.decode(column: "progress_done", as: Int.self)
        progressTotal = try row.decode(column: "progress_total", as: Int?.self)
    }
}

/// A job as submitted.
public struct NewJob: Sendable, Equatable {
    public var kind: String
    public var queue: String
    public var input: String
    public var priority: Int
    public var maxAttempts: Int
    /// Not before then (milliseconds since 1970); now when nil.
    public var runAt: Int64?
    public var expiresAt: Int64?
    /// The same key within a team returns the job it first created instead of a new one.
    public var idempotencyKey: String?
    public var traceContext: String?
    /// The API key submitting it: its work counts against that key's limits.
    public var keyID: String?

    public init(
        kind: String, queue: String = "default", input: String, priority: Int = 0, maxAttempts: Int = 5, runAt: Int64? = nil,
        expiresAt: Int64? = nil, idempotencyKey: String? = nil, traceContext: String? = nil, keyID: String? = nil
    ) {
        self.traceContext = traceContext
        self.keyID = keyID
        self.kind = kind
        self.queue = queue
        self.input = input
        self.priority = priority
        self.maxAttempts = maxAttempts
        self.runAt = runAt
        self.expiresAt = expiresAt
        self.idempotencyKey = idempotencyKey
    }
}

/// What the queue refuses, for the API to answer with the right status and code.
public enum JobQueueError: Error, Equatable, CustomStringConvertible {
    /// The action does not apply to a job in this state (409).
    case illegalTransition(action: String, state: JobState)
    /// The idempotency key was used for another job: kind, input, queue, priority or attempts differ (422).
    case idempotencyKeyReused
    /// The team already has this many jobs waiting in the queue (429).
    case queueFull(waiting: Int)

    public var description: String {
        switch self {
        case .illegalTransition(let action, let state): "a \(state.rawValue) job cannot be \(action)"
        case .idempotencyKeyReused:
            "this Idempotency-Key was already used for another job (kind, input, queue, priority or max_attempts differ)"
        case .queueFull(let waiting): "\(waiting) jobs of this team already wait in this queue; submit more once some have run"
        }
    }
}

/// Exponential backoff with jitter between attempts: `base` × 2^(attempt−1), at most `cap`, plus up to a
/// quarter more at random, so that jobs that failed together do not all come back together.
public struct RetryBackoff: Sendable, Equatable {
    public var base: Int64
    public var cap: Int64

    public init(baseMilliseconds: Int64 = 1_000, capMilliseconds: Int64 = 3_600_000) {
        base = baseMilliseconds
        cap = capMilliseconds
    }

    public func delay(afterAttempt attempt: Int) -> Int64 {
        let exponential = min(cap, base << Int64(min(max(attempt - 1, 0), 40)))
        return exponential + Int64.random(in: 0...max(0, exponential / 4))
    }
}
