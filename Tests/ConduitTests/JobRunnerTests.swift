import ConduitTestSupport
import Foundation
import Logging
import ServiceLifecycle
import Store
import Synchronization
import Testing

@testable import Conduit
@testable import ConduitCore
@testable import ConduitJobs

@Suite("Job runner")
struct JobRunnerTests {
    /// A worker whose behaviour the test sets: fails the first `failures` attempts of each job, takes
    /// `duration` (until cancelled when nil), and counts how many of its jobs run at once.
    final class TestWorker: JobWorker {
        let kind: String
        let failures: Int
        let duration: Duration?
        private let state = Mutex<(attempts: [String: Int], running: Int, mostAtOnce: Int, cancelled: Int)>(([:], 0, 0, 0))

        init(kind: String, failures: Int = 0, duration: Duration? = .milliseconds(10)) {
            self.kind = kind
            self.failures = failures
            self.duration = duration
        }

        var mostAtOnce: Int { state.withLock { $0.mostAtOnce } }
        var cancelled: Int { state.withLock { $0.cancelled } }

        func run(_ job: Job, progress: JobProgress) async throws -> JobOutcome {
            let attempt = state.withLock { state in
                state.attempts[job.id, default: 0] += 1
                state.running += 1
                state.mostAtOnce = max(state.mostAtOnce, state.running)
                return state.attempts[job.id]!
            }
            defer { state.withLock { $0.running -= 1 } }
            progress.report(done: 1, total: 2)
            do {
                try await Task.sleep(for: duration ?? .seconds(3600))
            } catch {
                state.withLock { $0.cancelled += 1 }
                throw error
            }
            if attempt <= failures { throw TestSetupError("attempt \(attempt) fails") }
            return JobOutcome(result: #"{"attempts":\#(attempt)}"#)
        }
    }

    static func configuration(lease: Duration = .seconds(2), shutdownGrace: Duration = .seconds(5)) -> JobRunnerConfiguration {
        var configuration = JobRunnerConfiguration()
        configuration.queues = ["default": 2]
        configuration.lease = lease
        configuration.pollInterval = .milliseconds(100)
        configuration.backoff = RetryBackoff(baseMilliseconds: 10, capMilliseconds: 50)
        configuration.shutdownGrace = shutdownGrace
        return configuration
    }

    /// Waits until `condition` holds for the job, up to 20 seconds.
    static func until(_ store: Database, _ id: String, _ condition: (Job) -> Bool) async throws -> Job {
        let found = try await eventually(within: .seconds(20)) { () async throws -> Job? in
            guard let job = try await store.jobs.find(id), condition(job) else { return nil }
            return job
        }
        if let found { return found }
        return try #require(try await store.jobs.find(id))
    }

    /// Runs `runner` in a service group while `body` runs, then shuts it down gracefully.
    static func running<T: Sendable>(_ runner: JobRunner, _ body: @Sendable (ServiceGroup) async throws -> T) async throws -> T {
        let group = ServiceGroup(services: [runner], logger: TestServer.logger)
        return try await withThrowingTaskGroup(of: T?.self) { tasks in
            tasks.addTask {
                try await group.run()
                return nil
            }
            let result = try await body(group)
            await group.triggerGracefulShutdown()
            for try await _ in tasks {}
            return result
        }
    }

    @Test(
        "jobs run by their kind's worker, no more at once than their queue allows; failed attempts are retried until one succeeds; a kind no worker of this node runs is left for a node that runs it",
        arguments: Backend.allCases)
    func running(backend: Backend) async throws {
        try await TestDatabase.withTeam(backend) { store, team in
            let flaky = TestWorker(kind: "flaky", failures: 2)
            let slow = TestWorker(kind: "slow", duration: .milliseconds(150))
            let metrics = ServerMetrics()
            let runner = JobRunner(
                store: store, workers: [flaky, slow], configuration: Self.configuration(), metricsFactory: metrics.factory,
                logger: TestServer.logger)
            try await Self.running(runner) { _ in
                let retried = try await store.jobs.enqueue(NewJob(kind: "flaky", input: "{}"), teamID: team.id).job
                var slowJobs: [Job] = []
                for index in 0..<6 {
                    slowJobs.append(try await store.jobs.enqueue(NewJob(kind: "slow", input: "\(index)"), teamID: team.id).job)
                }
                let orphan = try await store.jobs.enqueue(NewJob(kind: "unknown", input: "{}", maxAttempts: 2), teamID: team.id).job
                runner.wake("default")

                let done = try await Self.until(store, retried.id) { $0.state == .completed }
                #expect(done.state == .completed && done.attempt == 3 && done.result == #"{"attempts":3}"#)
                #expect(done.errors.map(\.message) == ["attempt 1 fails", "attempt 2 fails"])
                for job in slowJobs { #expect(try await Self.until(store, job.id) { $0.state == .completed }.state == .completed) }
                #expect(slow.mostAtOnce <= 2, "the queue runs 2 at once, \(slow.mostAtOnce) ran")
                let left = try await Self.until(store, orphan.id) { _ in true }
                #expect(left.state == .available && left.attempt == 0, "\(left.state), attempt \(left.attempt)")

                // The job counts are read every half lease.
                let expected = #"conduit_jobs{queue="default",state="completed"} 7"#
                var exposition = ""
                try await eventually(within: .seconds(20), every: .milliseconds(100)) {
                    exposition = String(decoding: metrics.exposition(), as: UTF8.self)
                    return exposition.contains(expected)
                }
                for line in [
                    #"conduit_jobs_finished_total{kind="flaky",outcome="retried"} 2"#,
                    #"conduit_jobs_finished_total{kind="flaky",outcome="completed"} 1"#,
                    #"conduit_jobs_finished_total{kind="slow",outcome="completed"} 6"#,
                    #"conduit_jobs{queue="default",state="completed"} 7"#, #"conduit_jobs{queue="default",state="available"} 1"#,
                ] {
                    #expect(exposition.contains(line), "\(line)")
                }
            }
        }
    }

    @Test("a job cancelled while it runs stops its worker; a job whose node died is rescued and run here")
    func cancellationAndRescue() async throws {
        try await TestDatabase.withTeam(.sqlite) { store, team in
            let endless = TestWorker(kind: "endless", duration: nil)
            let quick = TestWorker(kind: "quick")
            let runner = JobRunner(store: store, workers: [endless, quick], configuration: Self.configuration(), logger: TestServer.logger)
            // Claimed by a node that then died: nobody renews its lease.
            let abandoned = try await store.jobs.enqueue(NewJob(kind: "quick", input: "{}"), teamID: team.id).job
            _ = try await store.jobs.claim(queue: "default", limit: 1, node: "dead", lease: 200)
            try await Self.running(runner) { _ in
                let stuck = try await store.jobs.enqueue(NewJob(kind: "endless", input: "{}"), teamID: team.id).job
                let started = try await Self.until(store, stuck.id) { $0.state == .running && $0.progressDone == 1 }
                #expect(started.progressTotal == 2, "progress is written with the lease")
                _ = try await store.jobs.cancel(stuck.id, teamID: team.id)
                try await eventually(within: .seconds(10)) { endless.cancelled != 0 }
                #expect(endless.cancelled == 1)
                #expect(try await store.jobs.find(stuck.id)?.state == .cancelled)

                let rescued = try await Self.until(store, abandoned.id) { $0.state == .completed }
                #expect(rescued.state == .completed && rescued.attempt == 2 && rescued.errors.first?.message.contains("dead") == true)
            }
        }
    }

    @Test("on shutdown a job that does not finish within the grace goes back to the queue, its attempt not counted")
    func shutdown() async throws {
        try await TestDatabase.withTeam(.sqlite) { store, team in
            let endless = TestWorker(kind: "endless", duration: nil)
            let runner = JobRunner(
                store: store, workers: [endless], configuration: Self.configuration(shutdownGrace: .milliseconds(200)),
                logger: TestServer.logger)
            let job = try await store.jobs.enqueue(NewJob(kind: "endless", input: "{}"), teamID: team.id).job
            try await Self.running(runner) { _ in _ = try await Self.until(store, job.id) { $0.state == .running } }
            let released = try #require(try await store.jobs.find(job.id))
            #expect(released.state == .available && released.attempt == 0 && released.lockedBy == nil)
            #expect(endless.cancelled == 1)
        }
    }

    /// A worker that never returns and ignores cancellation, as one stuck on a call that never answers,
    /// until the test lets it go.
    final class StuckWorker: JobWorker {
        let kind = "stuck"
        private let waiting = Mutex<[CheckedContinuation<Void, Never>]>([])

        func run(_ job: Job, progress: JobProgress) async throws -> JobOutcome {
            await withCheckedContinuation { continuation in waiting.withLock { $0.append(continuation) } }
            return JobOutcome(result: "{}")
        }

        func release() {
            for continuation in waiting.withLock({ state in
                defer { state = [] }
                return state
            }) { continuation.resume() }
        }
    }

    @Test(
        "an attempt past its timeout fails and is retried, its lease no longer renewed, and its queue's slot frees even though the worker never returns"
    )
    func attemptTimeout() async throws {
        try await TestDatabase.withTeam(.sqlite) { store, team in
            let stuck = StuckWorker()
            let quick = TestWorker(kind: "quick")
            defer { stuck.release() }
            var configuration = Self.configuration()
            configuration.queues = ["default": 1]
            configuration.attemptTimeout = .milliseconds(500)
            let runner = JobRunner(store: store, workers: [stuck, quick], configuration: configuration, logger: TestServer.logger)
            try await Self.running(runner) { _ in
                let hung = try await store.jobs.enqueue(NewJob(kind: "stuck", input: "{}", maxAttempts: 1), teamID: team.id).job
                _ = try await Self.until(store, hung.id) { $0.state == .running }
                let next = try await store.jobs.enqueue(NewJob(kind: "quick", input: "{}"), teamID: team.id).job
                let failed = try await Self.until(store, hung.id) { $0.state == .discarded }
                #expect(failed.state == .discarded && failed.errors.first?.message.contains("timeout") == true, "\(failed.errors)")
                #expect(try await Self.until(store, next.id) { $0.state == .completed }.state == .completed, "the one slot came free")
            }
        }
    }

    /// Bills 100 tokens with each completed attempt; its first attempt never ends by itself (as one whose
    /// node is killed).
    final class BillingWorker: JobWorker {
        let kind = "billed"
        private let attempts = Mutex(0)

        func run(_ job: Job, progress: JobProgress) async throws -> JobOutcome {
            if attempts.withLock({ attempts in
                attempts += 1
                return attempts
            }) == 1 {
                try await Task.sleep(for: .seconds(3600))
            }
            let usage = UsageEvent(
                teamID: job.teamID, keyID: nil, model: "m", route: "/v1/jobs", tokens: 100, latencyMilliseconds: 1, status: 200)
            return JobOutcome(result: "{}", usage: [usage])
        }
    }

    @Test("a job's usage is stored with its completion, once: an attempt that does not complete bills nothing", arguments: Backend.allCases)
    func billedOnce(backend: Backend) async throws {
        try await TestDatabase.withTeam(backend) { store, team in
            var configuration = Self.configuration()
            configuration.attemptTimeout = .milliseconds(300)
            let runner = JobRunner(store: store, workers: [BillingWorker()], configuration: configuration, logger: TestServer.logger)
            try await Self.running(runner) { _ in
                let job = try await store.jobs.enqueue(NewJob(kind: "billed", input: "{}"), teamID: team.id).job
                let done = try await Self.until(store, job.id) { $0.state == .completed }
                // At least the second: on a loaded machine the second may time out too before it is even scheduled.
                #expect(done.state == .completed && done.attempt >= 2)
            }
            let billed = try await store.usage.summary(teamID: team.id, from: 0, to: .max)
            #expect(billed.map(\.tokens) == [100] && billed.map(\.requests) == [1], "\(billed)")
        }
    }

    @Test("on PostgreSQL a job enqueued by any node wakes the workers at once (LISTEN/NOTIFY), long before their next poll")
    func notification() async throws {
        try await TestDatabase.withTeam(.postgres) { store, team in
            var configuration = Self.configuration()
            configuration.pollInterval = .seconds(60)
            let runner = JobRunner(
                store: store, workers: [TestWorker(kind: "quick")], configuration: configuration, logger: TestServer.logger)
            try await Self.running(runner) { _ in
                try await Task.sleep(for: .milliseconds(500))  // the runner has looked once, and listens
                let start = ContinuousClock.now
                let job = try await store.jobs.enqueue(NewJob(kind: "quick", input: "{}"), teamID: team.id).job
                #expect(try await Self.until(store, job.id) { $0.state == .completed }.state == .completed)
                #expect(ContinuousClock.now - start < .seconds(10))
            }
        }
    }
}
