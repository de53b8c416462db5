import Foundation
import PostgresNIO
import SQLKit

/// The durable job queue, on SQLite and PostgreSQL alike. Workers claim due jobs in one transaction
/// (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so that nodes never wait on each other's rows; SQLite's
/// `BEGIN IMMEDIATE` takes the one write lock) and hold each under a lease they renew; a job whose
/// lease ran out (its node died) is rescued as a failed attempt. Every change of state checks the state
/// it starts from, so a worker that lost its job (rescued, cancelled) cannot complete it.
public struct JobsRepository: Repository {
    let database: Database
    /// PostgreSQL channel on which an enqueue wakes the workers of every node (the payload is the queue).
    public static let jobsChannel = "conduit_jobs"

    /// Stores a job; committed when this returns. A team's idempotency key already used returns the
    /// job it created (`created` false), or throws `idempotencyKeyReused` if that job's kind or input differ.
    /// With `maxWaiting`, throws `queueFull` when the team already has that many jobs waiting in the queue.
    public func enqueue(_ new: NewJob, teamID: String, maxWaiting: Int? = nil, now: Int64 = StoreTime.now()) async throws -> (
        job: Job, created: Bool
    ) {
        let id = randomIdentifier()
        let byKey: SQLQueryString? = new.idempotencyKey.map { "team_id = \(bind: teamID) AND idempotency_key = \(bind: $0)" }
        return try await transaction { sql in
            // A resubmission is answered with the job it made, and never refused by the bound.
            if let byKey, let existing = try await sql.raw("SELECT \(Job.columns) FROM jobs WHERE \(byKey)").first() {
                return try Self.resubmission(of: try Job(row: existing), as: new)
            }
            if let maxWaiting { try await Self.checkRoom(for: 1, in: new.queue, teamID: teamID, maxWaiting: maxWaiting, in: sql) }
            try await Self.insertJob(new, id: id, teamID: teamID, now: now, in: sql)
            guard let row = try await sql.raw("SELECT \(Job.columns) FROM jobs WHERE \(byKey ?? "id = \(bind: id)")").first() else {
                throw StoreError.notFound("job \(id)")
            }
            let job = try Job(row: row)
            // Another submission with the same key committed first.
            guard job.id == id else { return try Self.resubmission(of: job, as: new) }
            try await self.wakeWorkers(of: new.queue, in: sql)
            return (job, true)
        }
    }

    /// Inserts a job in the caller's transaction. ON CONFLICT: two submissions with one idempotency key at
    /// once insert one job, on either database.
    static func insertJob(_ new: NewJob, id: String, teamID: String, now: Int64, in sql: any SQLDatabase) async throws {
        let runAt = new.runAt ?? now
        let state: JobState = runAt > now ? .scheduled : .available
        try await sql.raw(
            """
            INSERT INTO jobs (id, team_id, key_id, kind, queue, state, priority, input, errors, attempt, max_attempts, run_at,
                              expires_at, created_at, idempotency_key, trace_context, progress_done)
            VALUES (\(bind: id), \(bind: teamID), \(bind: new.keyID), \(bind: new.kind), \(bind: new.queue), \(bind: state.rawValue), \(bind: new.priority),
                    \(bind: new.input), '[]', 0, \(bind: new.maxAttempts), \(bind: runAt), \(bind: new.expiresAt), \(bind: now),
                    \(bind: new.idempotencyKey), \(bind: new.traceContext), 0)
            ON CONFLICT (team_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
            """
        ).run()
    }

    /// On PostgreSQL, wakes the workers of `queue` on every node when the caller's transaction commits
    /// (PostgreSQL sends a transaction's identical notifications once). On SQLite there is one node,
    /// which wakes its own.
    func wakeWorkers(of queue: String, in sql: any SQLDatabase) async throws {
        guard database.dialect == .postgres else { return }
        try await sql.raw("SELECT pg_notify(\(bind: Self.jobsChannel), \(bind: queue))").run()
    }

    /// Throws `queueFull` unless the team's waiting jobs in `queue`, with `count` more, stay within `maxWaiting`.
    static func checkRoom(for count: Int, in queue: String, teamID: String, maxWaiting: Int, in sql: any SQLDatabase) async throws {
        let waiting =
            try await sql.raw(
                """
                SELECT COUNT(*) AS n FROM jobs
                WHERE team_id = \(bind: teamID) AND queue = \(bind: queue) AND state IN ('scheduled', 'available', 'retryable')
                """
            ).first()?.decode(column: "n", as: Int.self) ?? 0
        if waiting + count > maxWaiting { throw JobQueueError.queueFull(waiting: waiting) }
    }

    /// The answer to a submission under a key already used: the job it made, if it asked for the same.
    private static func resubmission(of job: Job, as new: NewJob) throws -> (job: Job, created: Bool) {
        guard job.kind == new.kind, job.input == new.input, job.queue == new.queue, job.priority == new.priority,
            job.maxAttempts == new.maxAttempts
        else { throw JobQueueError.idempotencyKeyReused }
        return (job, false)
    }

    /// On PostgreSQL, calls `notified` with the queue named by each enqueue, on any node, until cancelled
    /// (on a connection of its own from the pool). On SQLite, returns at once: there is one node, and
    /// it wakes its own workers.
    public func listen(_ notified: @escaping @Sendable (String) -> Void) async throws {
        guard case .postgres(let pool) = database.backend else { return }
        try await pool.client.withConnection { connection in
            try await connection.listen(on: Self.jobsChannel) { notifications in
                for try await notification in notifications { notified(notification.payload) }
            }
        }
    }

    /// The job, if it exists and (when `teamID` is given) belongs to that team.
    public func find(_ id: String, teamID: String? = nil) async throws -> Job? {
        try await read { sql in
            var team: SQLQueryString = ""
            if let teamID { team = "AND team_id = \(bind: teamID)" }
            return try await sql.raw("SELECT \(Job.columns) FROM jobs WHERE id = \(bind: id) \(team)").first().map(Job.init(row:))
        }
    }

    /// The bulk output of a completed job of `teamID` (nil when it has none, or is not there).
    public func output(_ id: String, teamID: String) async throws -> Data? {
        try await read { sql in
            try await sql.raw("SELECT output FROM jobs WHERE id = \(bind: id) AND team_id = \(bind: teamID)").first()?
                .decode(column: "output", as: String?.self).flatMap { Data(base64Encoded: $0) }
        }
    }

    /// A team's jobs, newest first, `limit` of them after the job `cursor` (the last of the previous page).
    /// A team's jobs, newest first, but those of `hiddenKinds`.
    public func list(
        teamID: String, state: JobState? = nil, kind: String? = nil, hiddenKinds: [String] = [], limit: Int, after cursor: String? = nil
    ) async throws -> [Job] {
        try await read { sql in
            var filter: SQLQueryString = "team_id = \(bind: teamID)"
            if let state { filter = "\(filter) AND state = \(bind: state.rawValue)" }
            if let kind { filter = "\(filter) AND kind = \(bind: kind)" }
            if !hiddenKinds.isEmpty { filter = "\(filter) AND kind NOT IN (\(binds: hiddenKinds))" }
            if let cursor {
                filter = """
                    \(filter) AND (created_at, id) < (SELECT created_at, id FROM jobs WHERE id = \(bind: cursor) AND team_id = \(bind: teamID))
                    """
            }
            return try await sql.raw(
                "SELECT \(Job.columns) FROM jobs WHERE \(filter) ORDER BY created_at DESC, id DESC LIMIT \(bind: limit)"
            )
            .all().map(Job.init(row:))
        }
    }

    /// Claims up to `limit` due jobs of `queue` for `node`, leased for `lease` milliseconds; a due job
    /// past its expiry is discarded instead. With `kinds`, only jobs of those kinds are claimed: a node leaves the
    /// kinds it does not run to the nodes that do.
    public func claim(
        queue: String, kinds: [String]? = nil, limit: Int, node: String, lease: Int64, now: Int64 = StoreTime.now()
    ) async throws -> [Job] {
        if let kinds, kinds.isEmpty { return [] }
        let skipLocked = lockClause(skipLocked: true)
        let ofKinds: SQLQueryString = kinds.map { "AND kind IN (\(binds: $0))" } ?? ""
        return try await transaction { sql in
            let rows = try await sql.raw(
                """
                SELECT \(Job.columns) FROM jobs
                WHERE queue = \(bind: queue) AND state IN ('scheduled', 'available', 'retryable') AND run_at <= \(bind: now) \(ofKinds)
                ORDER BY priority, run_at, id LIMIT \(bind: limit) \(unsafeRaw: skipLocked)
                """
            ).all()
            var claimed: [Job] = []
            var ends: [JobEnd] = []
            for row in rows {
                var job = try Job(row: row)
                if let expiry = job.expiresAt, expiry <= now, job.attempt == 0 {
                    job.errors.append(JobAttemptError(attempt: job.attempt, at: now, message: "expired before an attempt started"))
                    ends += try await settle(job, as: .discarded, runAt: job.runAt, now: now, in: sql).map { [$0] } ?? []
                    continue
                }
                job.state = .running
                job.attempt += 1
                job.attemptedAt = now
                job.lockedBy = node
                job.leaseExpiresAt = now + lease
                try await sql.raw(
                    """
                    UPDATE jobs SET state = 'running', attempt = \(bind: job.attempt), attempted_at = \(bind: now), locked_by = \(bind: node),
                                    lease_expires_at = \(bind: now + lease)
                    WHERE id = \(bind: job.id)
                    """
                ).run()
                claimed.append(job)
            }
            try await record(ends, now: now, in: sql)
            return claimed
        }
    }

    /// Extends the lease of a job `node` runs, and records its progress when given; false when the node
    /// no longer holds it (its lease ran out and it was rescued, or it was cancelled): the worker stops.
    public func renewLease(
        jobID: String, node: String, attempt: Int? = nil, lease: Int64, progress: (done: Int, total: Int?)? = nil,
        now: Int64 = StoreTime.now()
    ) async throws -> Bool {
        let holder = Self.holder(node: node, attempt: attempt)
        return try await read { sql in
            var progressUpdate: SQLQueryString = ""
            if let progress { progressUpdate = ", progress_done = \(bind: progress.done), progress_total = \(bind: progress.total)" }
            let renewed = try await sql.raw(
                """
                UPDATE jobs SET lease_expires_at = \(bind: now + lease) \(progressUpdate)
                WHERE id = \(bind: jobID) AND state = 'running' AND \(holder) RETURNING id
                """
            ).all()
            return !renewed.isEmpty
        }
    }

    /// Marks a job `node` runs completed with `result` (JSON) and its bulk `output` if any, running
    /// `effect` in the same transaction (a job's effect on the store then happens exactly when it
    /// completes). False, and no effect, when the node no longer held the job.
    public func complete(
        _ id: String, node: String, attempt: Int? = nil, result: String, output: Data? = nil, progress: (done: Int, total: Int?)? = nil,
        now: Int64 = StoreTime.now(), effect: (@Sendable (any SQLDatabase) async throws -> Void)? = nil
    ) async throws -> Bool {
        let holder = Self.holder(node: node, attempt: attempt)
        // Base64 in a TEXT column: the one type both databases store alike.
        let encodedOutput = output?.base64EncodedString()
        let finalProgress: SQLQueryString =
            if let progress { "progress_done = \(bind: progress.done), progress_total = \(bind: progress.total)" } else {
                "progress_done = COALESCE(progress_total, progress_done)"
            }
        return try await transaction { sql in
            guard
                let updated = try await sql.raw(
                    """
                    UPDATE jobs SET state = 'completed', result = \(bind: result), output = \(bind: encodedOutput), finished_at = \(bind: now),
                                    locked_by = NULL, lease_expires_at = NULL, \(finalProgress)
                    WHERE id = \(bind: id) AND state = 'running' AND \(holder) RETURNING team_id, kind, queue
                    """
                ).first()
            else { return false }
            try await effect?(sql)
            let (teamID, kind, queue) = (
                try updated.decode(column: "team_id", as: String.self), try updated.decode(column: "kind", as: String.self),
                try updated.decode(column: "queue", as: String.self)
            )
            if JobEvents.announces(kind) {
                try await database.events.insert(
                    NewEvent(JobEvents.Completed(jobID: id, kind: kind, queue: queue)), teamID: teamID, now: now, in: sql)
            }
            return true
        }
    }

    /// Records a failed attempt of a job `node` runs: retryable after the backoff, or discarded after
    /// its last attempt. Nil when the node no longer held the job.
    public func fail(
        _ id: String, node: String, attempt: Int? = nil, message: String, backoff: RetryBackoff, now: Int64 = StoreTime.now()
    ) async throws -> JobState? {
        let holder = Self.holder(node: node, attempt: attempt)
        let lock = lockClause(skipLocked: false)
        return try await transaction { sql in
            guard
                let row = try await sql.raw(
                    """
                    SELECT \(Job.columns) FROM jobs WHERE id = \(bind: id) AND state = 'running' AND \(holder) \(unsafeRaw: lock)
                    """
                ).first()
            else { return nil }
            let (state, end) = try await settleFailure(try Job(row: row), message: message, backoff: backoff, now: now, in: sql)
            try await record(end.map { [$0] } ?? [], now: now, in: sql)
            return state
        }
    }

    /// Jobs whose node stopped renewing their lease (it crashed or was cut off): each counts as a failed
    /// attempt, retried after its backoff or discarded. Returns them as they are now.
    public func rescueAbandoned(backoff: RetryBackoff, now: Int64 = StoreTime.now()) async throws -> [Job] {
        let skipLocked = lockClause(skipLocked: true)
        return try await transaction { sql in
            let rows = try await sql.raw(
                """
                SELECT \(Job.columns) FROM jobs WHERE state = 'running' AND lease_expires_at < \(bind: now)
                ORDER BY lease_expires_at LIMIT 100 \(unsafeRaw: skipLocked)
                """
            ).all()
            var rescued: [Job] = []
            var ends: [JobEnd] = []
            for row in rows {
                var job = try Job(row: row)
                let end: JobEnd?
                (job.state, end) = try await settleFailure(
                    job, message: "lease expired: node \(job.lockedBy ?? "?") stopped renewing it", backoff: backoff, now: now, in: sql)
                ends += end.map { [$0] } ?? []
                rescued.append(job)
            }
            try await record(ends, now: now, in: sql)
            return rescued
        }
    }

    /// Cancels a job of `teamID` that has not finished; a running one stops at its worker's next lease renewal.
    public func cancel(_ id: String, teamID: String, now: Int64 = StoreTime.now()) async throws -> Job {
        try await transition(id, teamID: teamID, action: "cancelled", allowedFrom: [.scheduled, .available, .retryable, .running]) {
            "state = 'cancelled', finished_at = \(bind: now), locked_by = NULL, lease_expires_at = NULL"
        }
    }

    /// Makes a job of `teamID` that is not running or completed due now, with one more attempt if it
    /// had used them all. A completed job is not run again: its effect would happen twice.
    public func retry(_ id: String, teamID: String, now: Int64 = StoreTime.now()) async throws -> Job {
        try await transition(id, teamID: teamID, action: "retried", allowedFrom: [.scheduled, .retryable, .discarded, .cancelled]) {
            """
            state = 'available', run_at = \(bind: now), finished_at = NULL, expires_at = NULL,
            max_attempts = CASE WHEN max_attempts > attempt THEN max_attempts ELSE attempt + 1 END
            """
        }
    }

    /// Puts the jobs `node` holds back in the queue, due now, their attempt not counted: for a shutdown
    /// that could not wait for them.
    @discardableResult
    public func release(node: String, now: Int64 = StoreTime.now()) async throws -> Int {
        try await read { sql in
            try await sql.raw(
                """
                UPDATE jobs SET state = 'available', attempt = attempt - 1, run_at = \(bind: now), locked_by = NULL, lease_expires_at = NULL
                WHERE state = 'running' AND locked_by = \(bind: node) RETURNING id
                """
            ).all().count
        }
    }

    /// Deletes jobs that finished before `cutoff` (milliseconds since 1970).
    public func prune(finishedBefore cutoff: Int64) async throws {
        try await read { sql in
            try await sql.raw(
                "DELETE FROM jobs WHERE state IN ('completed', 'discarded', 'cancelled') AND finished_at < \(bind: cutoff)"
            ).run()
        }
    }

    /// Jobs per queue and state, for metrics.
    public func counts() async throws -> [(queue: String, state: JobState, count: Int)] {
        try await read { sql in
            try await sql.raw("SELECT queue, state, COUNT(*) AS n FROM jobs GROUP BY queue, state").all().compactMap { row in
                guard let state = JobState(rawValue: try row.decode(column: "state", as: String.self)) else { return nil }
                return (try row.decode(column: "queue", as: String.self), state, try row.decode(column: "n", as: Int.self))
            }
        }
    }

    /// Who may change a running job: the node that claimed it and, when given, for the attempt it
    /// claimed (a job cancelled, retried and claimed again by the same node is another attempt).
    private static func holder(node: String, attempt: Int?) -> SQLQueryString {
        guard let attempt else { return "locked_by = \(bind: node)" }
        return "locked_by = \(bind: node) AND attempt = \(bind: attempt)"
    }

    // MARK: - Transitions

    private func transition(
        _ id: String, teamID: String, action: String, allowedFrom: Set<JobState>, _ assignments: @escaping @Sendable () -> SQLQueryString
    ) async throws -> Job {
        let lock = lockClause(skipLocked: false)
        return try await transaction { sql in
            guard
                let row = try await sql.raw(
                    "SELECT \(Job.columns) FROM jobs WHERE id = \(bind: id) AND team_id = \(bind: teamID) \(unsafeRaw: lock)"
                ).first()
            else { throw StoreError.notFound("job \(id)") }
            let job = try Job(row: row)
            guard allowedFrom.contains(job.state) else { throw JobQueueError.illegalTransition(action: action, state: job.state) }
            try await sql.raw("UPDATE jobs SET \(assignments()) WHERE id = \(bind: id)").run()
            guard let row = try await sql.raw("SELECT \(Job.columns) FROM jobs WHERE id = \(bind: id)").first() else {
                throw StoreError.notFound("job \(id)")
            }
            let updated = try Job(row: row)
            if updated.state == .cancelled, JobEvents.announces(updated.kind) {
                try await database.events.insert(
                    NewEvent(JobEvents.Cancelled(jobID: id, kind: updated.kind, queue: updated.queue)), teamID: teamID,
                    now: StoreTime.now(), in: sql)
            }
            return updated
        }
    }

    private func settleFailure(_ job: Job, message: String, backoff: RetryBackoff, now: Int64, in sql: any SQLDatabase) async throws
        -> (JobState, JobEnd?)
    {
        var job = job
        job.errors.append(JobAttemptError(attempt: job.attempt, at: now, message: message))
        let state: JobState = job.attempt >= job.maxAttempts ? .discarded : .retryable
        return (state, try await settle(job, as: state, runAt: now + backoff.delay(afterAttempt: job.attempt), now: now, in: sql))
    }

    /// A job's end, announced when its transaction has settled every job it settles (`record`).
    private typealias JobEnd = (teamID: String, event: NewEvent)

    /// Records the events of the jobs a transaction ended, a team at a time in the order of the teams'
    /// ids: each takes its team's event sequence until the transaction ends, and two transactions that
    /// end jobs of the same teams then take them in the same order, so they cannot deadlock on them.
    private func record(_ ends: [JobEnd], now: Int64, in sql: any SQLDatabase) async throws {
        for end in ends.sorted(by: { $0.teamID < $1.teamID }) {
            try await database.events.insert(end.event, teamID: end.teamID, now: now, in: sql)
        }
    }

    /// Writes a job's new state after an attempt (or its expiry) with its error history; returns the event
    /// of its end when it is discarded, for the caller to `record`.
    private func settle(_ job: Job, as state: JobState, runAt: Int64, now: Int64, in sql: any SQLDatabase) async throws -> JobEnd? {
        let errors = String(decoding: try JSONEncoder().encode(job.errors), as: UTF8.self)
        let finishedAt: Int64? = state.isFinished ? now : nil
        try await sql.raw(
            """
            UPDATE jobs SET state = \(bind: state.rawValue), errors = \(bind: errors), run_at = \(bind: runAt), finished_at = \(bind: finishedAt),
                            locked_by = NULL, lease_expires_at = NULL
            WHERE id = \(bind: job.id)
            """
        ).run()
        guard state == .discarded, JobEvents.announces(job.kind) else { return nil }
        let error = String((job.errors.last?.message ?? "").prefix(1000))
        return (
            job.teamID, NewEvent(JobEvents.Discarded(jobID: job.id, kind: job.kind, queue: job.queue, attempts: job.attempt, error: error))
        )
    }

    /// PostgreSQL's row locks for a read that will write; SQLite's transactions already hold the one write lock.
    private func lockClause(skipLocked: Bool) -> String {
        guard database.dialect == .postgres else { return "" }
        return skipLocked ? "FOR UPDATE SKIP LOCKED" : "FOR UPDATE"
    }
}

extension Database {
    public var jobs: JobsRepository { JobsRepository(database: self) }
}
