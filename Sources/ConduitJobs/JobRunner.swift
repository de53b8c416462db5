import ConduitCore
import CoreMetrics
import Foundation
import Logging
import ServiceLifecycle
import Store
import Synchronization
import Tracing

/// How the node runs jobs.
public struct JobRunnerConfiguration: Sendable, Equatable {
    /// Jobs run at once, per queue; queues not named here are not served by this node.
    public var queues: [String: Int] = ["default": 4, "embeddings": 1, "insights": 2, "webhooks": 4]
    /// A running job's lease; its holder renews it every third of it, and a job whose lease ran out
    /// (its node died) is rescued by any node.
    public var lease: Duration = .seconds(30)
    /// How often a queue is looked at when nothing woke it (an enqueue on this node, or on PostgreSQL
    /// a notification from any node, wakes it at once).
    public var pollInterval: Duration = .seconds(1)
    public var backoff = RetryBackoff()
    /// Finished jobs are deleted this many days after they finished.
    public var retentionDays = 7
    /// Jobs a team may have waiting in one queue; past it, submissions get 429 with Retry-After.
    public var maxWaitingPerTeam = 10_000
    /// On shutdown, how long running jobs may take to finish before they are put back in the queue.
    public var shutdownGrace: Duration = .seconds(20)
    /// How long one attempt may run: past it the attempt fails (and is retried) and its lease is no
    /// longer renewed, so a worker stuck on something that never answers cannot hold its job, or its
    /// queue's slot, for good.
    public var attemptTimeout: Duration = .seconds(30 * 60)

    public init() {}
}

/// Runs the jobs of the queues this node serves, with the workers registered by kind: claims due
/// jobs up to each queue's concurrency, renews their leases while they run, records the outcome,
/// and rescues the jobs of nodes that stopped renewing theirs. On shutdown it stops claiming, lets
/// running jobs finish for a while, and puts back those that did not.
public final class JobRunner: Service, JobQueues, Sendable {
    public let node: String
    private let store: Database
    private let workers: [String: any JobWorker]
    private let configuration: JobRunnerConfiguration
    private let logger: Logger
    /// Queues woken since their loop last looked.
    private let woken = Mutex<Set<String>>([])
    /// Jobs running now, per queue.
    private let running = Mutex<[String: Int]>([:])
    private let outcomes: @Sendable (_ kind: String, _ outcome: String) -> Void
    private let metricsFactory: any MetricsFactory

    public init(
        store: Database, workers: [any JobWorker], configuration: JobRunnerConfiguration = .init(),
        metricsFactory: any MetricsFactory = MetricsSystem.factory, logger: Logger
    ) {
        node =
            "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8).lowercased())"
        self.store = store
        self.workers = Dictionary(workers.map { ($0.kind, $0) }) { first, _ in first }
        self.configuration = configuration
        self.logger = logger
        self.metricsFactory = metricsFactory
        outcomes = { kind, outcome in
            Counter(label: "conduit_jobs_finished_total", dimensions: [("kind", kind), ("outcome", outcome)], factory: metricsFactory)
                .increment()
        }
    }

    /// Looks at `queue` now instead of at its next poll: a job was just enqueued.
    public func wake(_ queue: String) { _ = woken.withLock { $0.insert(queue) } }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            for (queue, concurrency) in configuration.queues {
                group.addTask { await self.serve(queue, concurrency: concurrency) }
            }
            group.addTask { await self.rescueAndPrune() }
            group.addTask { await self.listen() }
        }
        // Whatever was still running when the shutdown grace ran out goes back to the queue.
        do {
            let released = try await store.jobs.release(node: node)
            if released > 0 { logger.notice("jobs put back in the queue at shutdown", metadata: ["jobs": "\(released)"]) }
        } catch {
            logger.error("jobs not put back at shutdown; they are rescued when their lease runs out", metadata: ["error": "\(error)"])
        }
    }

    // MARK: - Claiming

    private func serve(_ queue: String, concurrency: Int) async {
        await withDiscardingTaskGroup { jobs in
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                let free = concurrency - running.withLock { $0[queue, default: 0] }
                var claimed: [Job] = []
                if free > 0 {
                    do {
                        claimed = try await store.jobs.claim(
                            queue: queue, kinds: Array(workers.keys), limit: free, node: node, lease: milliseconds(configuration.lease))
                    } catch {
                        logger.warning("claiming jobs failed", metadata: ["queue": "\(queue)", "error": "\(error)"])
                    }
                }
                for job in claimed {
                    running.withLock { $0[queue, default: 0] += 1 }
                    jobs.addTask {
                        await self.execute(job)
                        self.running.withLock { $0[queue, default: 0] -= 1 }
                        self.wake(queue)
                    }
                }
                // All free slots filled: more may be due at once.
                if free > 0 && claimed.count == free { continue }
                await nap(queue)
            }
        }
    }

    /// Waits for a wake-up of `queue`, the poll interval, or the shutdown, whichever comes first.
    private func nap(_ queue: String) async {
        let until = ContinuousClock.now + configuration.pollInterval
        while ContinuousClock.now < until && !Task.isShuttingDownGracefully && !Task.isCancelled {
            if woken.withLock({ $0.remove(queue) }) != nil { return }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    private func listen() async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown { try await self.store.jobs.listen { queue in self.wake(queue) } }
                return  // SQLite: nothing to listen to
            } catch {
                if Task.isShuttingDownGracefully || Task.isCancelled { return }
                logger.warning("listening for new jobs failed; polling meanwhile", metadata: ["error": "\(error)"])
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(5)) }
            }
        }
    }

    // MARK: - Running one job

    private enum Outcome: Sendable {
        case finished(Result<JobOutcome, any Error>)
        case lostLease
        case shutdownGraceOver
    }

    private func execute(_ job: Job) async {
        guard let worker = workers[job.kind] else {
            await record(job, failure: "no worker runs jobs of kind '\(job.kind)' on this node")
            return
        }
        let progress = JobProgress()
        // Each attempt is a span in the trace of the request that submitted the job.
        let span = startSpan("job \(job.kind)", context: TraceContextCarrier.context(continuing: job.traceContext), ofKind: .consumer)
        span.updateAttributes { attributes in
            attributes["conduit.job.id"] = job.id
            attributes["conduit.job.attempt"] = job.attempt
            attributes["conduit.job.queue"] = job.queue
        }
        defer { span.end() }
        let outcome = await InstrumentationContext.$current.withValue(span.context) { await attempt(job, with: worker, progress: progress) }
        if case .finished(.failure(let error)) = outcome {
            span.recordError(error)
            span.setStatus(SpanStatus(code: .error))
        }
        await settle(job, outcome: outcome, progress: progress)
    }

    private func attempt(_ job: Job, with worker: any JobWorker, progress: JobProgress) async -> Outcome {
        let stop = AttemptStop()
        return await withTaskGroup(of: Void.self) { group in
            group.addTask {
                let lost = await self.holdLease(of: job, progress: progress)
                if let lost { stop.request(lost) }
            }
            group.addTask {
                try? await gracefulShutdown()
                guard (try? await Task.sleep(for: self.configuration.shutdownGrace)) != nil else { return }
                stop.request(.shutdownGraceOver)
            }
            defer { group.cancelAll() }
            // The worker is abandoned, not awaited, when the attempt ends without it: its slot frees up even
            // if it ignores cancellation.
            let timeout = configuration.attemptTimeout
            do {
                return .finished(
                    .success(
                        try await withDeadline(
                            watch: { waited in
                                if let stopped = stop.requested { return AttemptStopped(outcome: stopped) }
                                return waited >= timeout ? AttemptTimedOut(timeout: timeout) : nil
                            }, { try await worker.run(job, progress: progress) })))
            } catch let stopped as AttemptStopped {
                return stopped.outcome
            } catch {
                return .finished(.failure(error))
            }
        }
    }

    /// Why an attempt must end before its worker returns, once something has said so (the first reason wins).
    private final class AttemptStop: Sendable {
        private let reason = Mutex<Outcome?>(nil)
        func request(_ outcome: Outcome) { reason.withLock { $0 = $0 ?? outcome } }
        var requested: Outcome? { reason.withLock { $0 } }
    }

    private struct AttemptStopped: Error {
        let outcome: Outcome
    }

    private struct AttemptTimedOut: Error, CustomStringConvertible {
        let timeout: Duration
        var description: String { "the attempt ran past its timeout of \(timeout)" }
    }

    /// Records how the attempt ended.
    private func settle(_ job: Job, outcome: Outcome, progress: JobProgress) async {
        let metadata: Logger.Metadata = ["job_id": "\(job.id)", "kind": "\(job.kind)", "attempt": "\(job.attempt)"]
        switch outcome {
        case .finished(.success(let outcome)):
            do {
                let final = progress.current
                // A database hiccup must not turn a finished attempt into a failed one: tried again a few times.
                let completed = try await retrying(times: 3) {
                    try await store.jobs.complete(
                        job.id, node: node, attempt: job.attempt, result: outcome.result, output: outcome.output,
                        progress: (final.done, final.total), effect: { try await UsageRepository.insert(outcome.usage, on: $0) })
                }
                if completed {
                    outcomes(job.kind, "completed")
                    logger.info("job completed", metadata: metadata)
                } else {
                    logger.notice("job finished after it was cancelled or rescued; its result is dropped", metadata: metadata)
                }
            } catch {
                logger.error(
                    "job result not stored; it runs again after its lease", metadata: metadata.merging(["error": "\(error)"]) { $1 })
            }
        case .finished(.failure(let error)):
            await record(job, failure: "\(error)")
        case .lostLease:
            logger.notice("job stopped: it was cancelled, or rescued by another node", metadata: metadata)
        case .shutdownGraceOver:
            logger.notice("job interrupted by the shutdown; it goes back to the queue", metadata: metadata)
        }
    }

    private func record(_ job: Job, failure message: String) async {
        let metadata: Logger.Metadata = ["job_id": "\(job.id)", "kind": "\(job.kind)", "attempt": "\(job.attempt)", "error": "\(message)"]
        do {
            switch try await store.jobs.fail(job.id, node: node, attempt: job.attempt, message: message, backoff: configuration.backoff) {
            case .discarded?:
                outcomes(job.kind, "discarded")
                logger.warning("job discarded after its last attempt", metadata: metadata)
            case .some:
                outcomes(job.kind, "retried")
                logger.info("job attempt failed; it will be retried", metadata: metadata)
            case nil:
                logger.notice("job failed after it was cancelled or rescued", metadata: metadata)
            }
        } catch {
            logger.error("job failure not stored; it is rescued after its lease", metadata: metadata)
        }
    }

    /// Renews the job's lease every third of it, with its progress, until cancelled (the attempt ended);
    /// returns early when the lease is lost: refused (the job was cancelled or rescued), or not renewed
    /// in time (the database was out of reach for a whole lease, so another node may have rescued the job).
    private func holdLease(of job: Job, progress: JobProgress) async -> Outcome? {
        let lease = milliseconds(configuration.lease)
        var heldUntil = ContinuousClock.now + configuration.lease
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.lease / 3)
            if Task.isCancelled { break }
            let current = progress.current
            do {
                let renewed = ContinuousClock.now
                let held = try await store.jobs.renewLease(
                    jobID: job.id, node: node, attempt: job.attempt, lease: lease, progress: (current.done, current.total))
                if !held { return .lostLease }
                heldUntil = renewed + configuration.lease
            } catch {
                logger.warning("lease renewal failed; trying again", metadata: ["job_id": "\(job.id)", "error": "\(error)"])
                if ContinuousClock.now >= heldUntil { return .lostLease }
            }
        }
        return nil
    }

    /// `body`'s answer, tried up to `times` times a second apart while it throws.
    private func retrying<T>(times: Int, _ body: () async throws -> T) async throws -> T {
        for _ in 1..<times {
            do { return try await body() } catch { try? await Task.sleep(for: .seconds(1)) }
        }
        return try await body()
    }

    // MARK: - Housekeeping

    private func rescueAndPrune() async {
        var lastPrune = ContinuousClock.now - .seconds(3600)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                for job in try await store.jobs.rescueAbandoned(backoff: configuration.backoff) {
                    outcomes(job.kind, job.state == .discarded ? "discarded" : "rescued")
                    logger.warning(
                        "job rescued from a node that stopped renewing its lease",
                        metadata: ["job_id": "\(job.id)", "kind": "\(job.kind)", "node": "\(job.lockedBy ?? "?")", "state": "\(job.state)"])
                }
                try await recordJobCounts()
                if ContinuousClock.now - lastPrune > .seconds(60) {
                    try await store.jobs.prune(finishedBefore: StoreTime.now() - Int64(configuration.retentionDays) * StoreTime.day)
                    lastPrune = .now
                }
            } catch {
                logger.warning("job housekeeping failed", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: max(.seconds(1), self.configuration.lease / 2)) }
        }
    }

    /// `conduit_jobs{queue, state}`: every node reports the whole queue (take the max across nodes, not the sum).
    private func recordJobCounts() async throws {
        let counts = try await store.jobs.counts()
        let queues = Set(configuration.queues.keys).union(counts.map(\.queue))
        for queue in queues {
            for state in JobState.allCases {
                let count = counts.first { $0.queue == queue && $0.state == state }?.count ?? 0
                Gauge(label: "conduit_jobs", dimensions: [("queue", queue), ("state", state.rawValue)], factory: metricsFactory).record(
                    count)
            }
        }
    }

    /// Jobs a team may have waiting in one queue.
    public var maxWaitingPerTeam: Int { configuration.maxWaitingPerTeam }

    /// Whether this node runs jobs of `queue`.
    public func serves(_ queue: String) -> Bool { configuration.queues[queue] != nil }

    private func milliseconds(_ duration: Duration) -> Int64 { Int64(duration / .milliseconds(1)) }
}
