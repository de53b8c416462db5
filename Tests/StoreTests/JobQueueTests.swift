import ConduitTestSupport
import Foundation
import SQLKit
import Testing

@testable import Store

@Suite("Store: job queue")
struct JobQueueTests {
    static let noWait = RetryBackoff(baseMilliseconds: 1, capMilliseconds: 1)

    @Test(
        "an idempotency key returns the job it created; with another input it is refused; another team has its own",
        arguments: Backend.allCases)
    func idempotency(backend: Backend) async throws {
        try await TestDatabase.withTeams(backend) { store, team, other in
            let job = NewJob(kind: "embed", input: #"{"texts":["a"]}"#, idempotencyKey: "k-1")
            let (first, created) = try await store.jobs.enqueue(job, teamID: team.id)
            #expect(created && first.state == .available && first.attempt == 0 && first.errors.isEmpty)
            let (again, createdAgain) = try await store.jobs.enqueue(job, teamID: team.id)
            #expect(!createdAgain && again == first)
            var changed = job
            changed.input = #"{"texts":["b"]}"#
            await #expect(throws: JobQueueError.idempotencyKeyReused) { try await store.jobs.enqueue(changed, teamID: team.id) }
            var reprioritized = job
            reprioritized.priority = 3
            await #expect(throws: JobQueueError.idempotencyKeyReused) { try await store.jobs.enqueue(reprioritized, teamID: team.id) }
            #expect(try await store.jobs.enqueue(job, teamID: other.id).created)
            // Submitted at once with one key: one job.
            let concurrent = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        try await store.jobs.enqueue(NewJob(kind: "embed", input: "{}", idempotencyKey: "k-2"), teamID: team.id).job.id
                    }
                }
                return try await group.reduce(into: Set<String>()) { $0.insert($1) }
            }
            #expect(concurrent.count == 1)
        }
    }

    @Test(
        "workers claim due jobs by priority then time, each job once even when claiming at the same moment; later and expired jobs are not run",
        arguments: Backend.allCases)
    func claiming(backend: Backend) async throws {
        try await TestDatabase.withTeam(backend) { store, team in
            let now = StoreTime.now()
            let low = try await store.jobs.enqueue(NewJob(kind: "k", input: "{}", priority: 5, runAt: now - 2000), teamID: team.id).job
            let high = try await store.jobs.enqueue(NewJob(kind: "k", input: "{}", priority: 0, runAt: now - 1000), teamID: team.id).job
            let later = try await store.jobs.enqueue(NewJob(kind: "k", input: "{}", runAt: now + 60_000), teamID: team.id).job
            let expired = try await store.jobs.enqueue(
                NewJob(kind: "k", input: "{}", runAt: now - 3000, expiresAt: now - 1), teamID: team.id
            )
            .job
            _ = try await store.jobs.enqueue(NewJob(kind: "k", queue: "other", input: "{}"), teamID: team.id)
            #expect(later.state == .scheduled)

            let claimed = try await store.jobs.claim(queue: "default", limit: 10, node: "n1", lease: 30_000, now: now)
            #expect(claimed.map(\.id) == [high.id, low.id])
            #expect(
                claimed.allSatisfy { $0.state == .running && $0.attempt == 1 && $0.lockedBy == "n1" && $0.leaseExpiresAt == now + 30_000 })
            #expect(try await store.jobs.find(expired.id)?.state == .discarded)
            #expect(try await store.jobs.find(later.id)?.state == .scheduled)
            #expect(try await store.jobs.claim(queue: "default", limit: 10, node: "n2", lease: 30_000, now: now).isEmpty)

            // A node claims only the kinds it runs, and leaves the rest where they are.
            let mine = try await store.jobs.enqueue(NewJob(kind: "mine", queue: "mixed", input: "{}"), teamID: team.id).job
            let theirs = try await store.jobs.enqueue(NewJob(kind: "theirs", queue: "mixed", input: "{}"), teamID: team.id).job
            #expect(try await store.jobs.claim(queue: "mixed", kinds: [], limit: 10, node: "n3", lease: 30_000).isEmpty)
            #expect(
                try await store.jobs.claim(queue: "mixed", kinds: ["mine"], limit: 10, node: "n3", lease: 30_000).map(\.id) == [mine.id])
            #expect(try await store.jobs.find(theirs.id)?.state == .available)

            for index in 0..<20 { _ = try await store.jobs.enqueue(NewJob(kind: "k", queue: "race", input: "\(index)"), teamID: team.id) }
            let taken = try await withThrowingTaskGroup(of: [String].self) { group in
                for node in 0..<4 {
                    group.addTask { try await store.jobs.claim(queue: "race", limit: 8, node: "n\(node)", lease: 30_000).map(\.id) }
                }
                return try await group.reduce(into: [String]()) { $0 += $1 }
            }
            #expect(taken.count == 20 && Set(taken).count == 20, "every job claimed exactly once")
        }
    }

    @Test(
        "a failed attempt is retried after its backoff, with its error kept, until the last attempt discards the job",
        arguments: Backend.allCases)
    func retries(backend: Backend) async throws {
        try await TestDatabase.withTeam(backend) { store, team in
            let job = try await store.jobs.enqueue(NewJob(kind: "k", input: "{}", maxAttempts: 2), teamID: team.id).job
            let backoff = RetryBackoff(baseMilliseconds: 10_000, capMilliseconds: 60_000)
            var now = StoreTime.now()
            _ = try await store.jobs.claim(queue: "default", limit: 1, node: "n", lease: 30_000, now: now)
            #expect(try await store.jobs.fail(job.id, node: "other", message: "not mine", backoff: backoff, now: now) == nil)
            #expect(try await store.jobs.fail(job.id, node: "n", message: "upstream 500", backoff: backoff, now: now) == .retryable)
            let retryable = try #require(try await store.jobs.find(job.id))
            #expect(retryable.runAt >= now + 10_000 && retryable.runAt <= now + 12_500, "10 s, plus up to a quarter of jitter")
            #expect(retryable.errors == [JobAttemptError(attempt: 1, at: now, message: "upstream 500")])
            #expect(
                try await store.jobs.claim(queue: "default", limit: 1, node: "n", lease: 30_000, now: now).isEmpty, "not before its backoff"
            )
            now = retryable.runAt
            #expect(try await store.jobs.claim(queue: "default", limit: 1, node: "n", lease: 30_000, now: now).first?.attempt == 2)
            #expect(try await store.jobs.fail(job.id, node: "n", message: "again", backoff: backoff, now: now) == .discarded)
            let discarded = try #require(try await store.jobs.find(job.id))
            #expect(discarded.errors.map(\.attempt) == [1, 2] && discarded.finishedAt == now && discarded.lockedBy == nil)
            #expect(backoff.delay(afterAttempt: 20) <= 75_000, "capped, with jitter")
        }
    }

    @Test(
        "a job whose node stops renewing its lease is rescued and run by another; the first node can then neither renew nor complete it, and its effect happens once",
        arguments: Backend.allCases)
    func rescue(backend: Backend) async throws {
        try await TestDatabase.with(backend) { store in
            try await store.read { try await $0.raw("CREATE TABLE effects (job_id TEXT PRIMARY KEY)").run() }
            let team = try await store.teams.create(name: "t")
            let job = try await store.jobs.enqueue(NewJob(kind: "k", input: "{}"), teamID: team.id).job
            let now = StoreTime.now()
            _ = try await store.jobs.claim(queue: "default", limit: 1, node: "crashed", lease: 1_000, now: now)
            #expect(try await store.jobs.renewLease(jobID: job.id, node: "crashed", lease: 1_000, progress: (3, 10), now: now + 500))
            #expect(try await store.jobs.find(job.id)?.progressDone == 3)
            #expect(try await store.jobs.rescueAbandoned(backoff: Self.noWait, now: now + 1_000).isEmpty, "the lease still runs")
            let rescued = try await store.jobs.rescueAbandoned(backoff: Self.noWait, now: now + 1_501)
            #expect(rescued.map(\.id) == [job.id] && rescued.first?.state == .retryable)
            #expect(try await store.jobs.find(job.id)?.errors.first?.message.contains("crashed") == true)

            _ = try await store.jobs.claim(queue: "default", limit: 1, node: "healthy", lease: 30_000, now: now + 2_000)
            #expect(try await store.jobs.renewLease(jobID: job.id, node: "crashed", lease: 1_000) == false)
            let effect: @Sendable (any SQLDatabase) async throws -> Void = { sql in
                try await sql.raw("INSERT INTO effects (job_id) VALUES (\(bind: job.id))").run()
            }
            #expect(try await store.jobs.complete(job.id, node: "crashed", result: "{}", effect: effect) == false)
            #expect(try await store.jobs.complete(job.id, node: "healthy", result: #"{"ok":true}"#, effect: effect))
            #expect(try await store.jobs.complete(job.id, node: "healthy", result: "{}", effect: effect) == false)
            let effects = try await store.read { try await $0.raw("SELECT job_id FROM effects").all().count }
            #expect(effects == 1)
            let completed = try #require(try await store.jobs.find(job.id))
            #expect(completed.state == .completed && completed.result == #"{"ok":true}"# && completed.progressDone == 10)
        }
    }

    @Test(
        "cancel and retry move only from the states they apply to (an illegal move is refused and changes nothing); a release puts a node's jobs back",
        arguments: Backend.allCases)
    func transitions(backend: Backend) async throws {
        try await TestDatabase.withTeams(backend) { store, team, other in
            let waiting = try await store.jobs.enqueue(NewJob(kind: "k", input: "1"), teamID: team.id).job
            await #expect(throws: StoreError.self) { try await store.jobs.cancel(waiting.id, teamID: other.id) }
            #expect(try await store.jobs.cancel(waiting.id, teamID: team.id).state == .cancelled)
            await #expect(throws: JobQueueError.illegalTransition(action: "cancelled", state: .cancelled)) {
                try await store.jobs.cancel(waiting.id, teamID: team.id)
            }
            let retried = try await store.jobs.retry(waiting.id, teamID: team.id)
            #expect(retried.state == .available && retried.finishedAt == nil)

            let running = try #require(try await store.jobs.claim(queue: "default", limit: 1, node: "n", lease: 30_000).first)
            await #expect(throws: JobQueueError.illegalTransition(action: "retried", state: .running)) {
                try await store.jobs.retry(running.id, teamID: team.id)
            }
            // Cancelled, retried and claimed again by the same node: the first attempt's worker can no longer touch it.
            _ = try await store.jobs.cancel(running.id, teamID: team.id)
            _ = try await store.jobs.retry(running.id, teamID: team.id)
            let again = try #require(try await store.jobs.claim(queue: "default", limit: 1, node: "n", lease: 30_000).first)
            #expect(again.id == running.id && again.attempt == 2)
            #expect(try await store.jobs.renewLease(jobID: running.id, node: "n", attempt: 1, lease: 30_000) == false)
            #expect(try await store.jobs.complete(running.id, node: "n", attempt: 1, result: "{}") == false)
            #expect(try await store.jobs.fail(running.id, node: "n", attempt: 1, message: "x", backoff: Self.noWait) == nil)
            #expect(try await store.jobs.renewLease(jobID: running.id, node: "n", attempt: 2, lease: 30_000))
            #expect(try await store.jobs.release(node: "n") == 1)
            let released = try #require(try await store.jobs.find(running.id))
            #expect(released.state == .available && released.attempt == 1 && released.lockedBy == nil)

            _ = try await store.jobs.claim(queue: "default", limit: 1, node: "n", lease: 30_000)
            #expect(try await store.jobs.complete(running.id, node: "n", result: "{}"))
            await #expect(throws: JobQueueError.illegalTransition(action: "retried", state: .completed)) {
                try await store.jobs.retry(running.id, teamID: team.id)
            }
            await #expect(throws: JobQueueError.illegalTransition(action: "cancelled", state: .completed)) {
                try await store.jobs.cancel(running.id, teamID: team.id)
            }

            // Discarded after its only attempt: a retry gives it one more.
            let once = try await store.jobs.enqueue(NewJob(kind: "k", input: "2", maxAttempts: 1), teamID: team.id).job
            _ = try await store.jobs.claim(queue: "default", limit: 1, node: "n", lease: 30_000)
            #expect(try await store.jobs.fail(once.id, node: "n", message: "x", backoff: Self.noWait) == .discarded)
            #expect(try await store.jobs.retry(once.id, teamID: team.id).maxAttempts == 2)
        }
    }

    @Test(
        "a team's jobs list newest first, page by page, filtered by state and kind; finished jobs are pruned", arguments: Backend.allCases)
    func listingAndPruning(backend: Backend) async throws {
        try await TestDatabase.withTeams(backend) { store, team, other in
            let start = StoreTime.now()
            var ids: [String] = []
            for index in 0..<5 {
                ids.append(
                    try await store.jobs.enqueue(
                        NewJob(kind: index % 2 == 0 ? "even" : "odd", input: "\(index)"), teamID: team.id, now: start + Int64(index)
                    )
                    .job.id)
            }
            _ = try await store.jobs.enqueue(NewJob(kind: "even", input: "x"), teamID: other.id)
            let first = try await store.jobs.list(teamID: team.id, limit: 2)
            let second = try await store.jobs.list(teamID: team.id, limit: 2, after: first.last?.id)
            let third = try await store.jobs.list(teamID: team.id, limit: 2, after: second.last?.id)
            #expect((first + second + third).map(\.id) == ids.reversed())
            #expect(try await store.jobs.list(teamID: team.id, kind: "even", limit: 10).count == 3)

            _ = try await store.jobs.cancel(ids[0], teamID: team.id, now: start + 10)
            _ = try await store.jobs.cancel(ids[1], teamID: team.id, now: start + 20)
            #expect(try await store.jobs.list(teamID: team.id, state: .cancelled, limit: 10).count == 2)
            try await store.jobs.prune(finishedBefore: start + 15)
            #expect(try await store.jobs.find(ids[0]) == nil)
            #expect(try await store.jobs.find(ids[1]) != nil)
            let counts = try await store.jobs.counts()
            #expect(counts.contains { $0.queue == "default" && $0.state == .available && $0.count == 4 })
        }
    }
}
