import Conduit
import ConduitTestSupport
import Foundation
import Logging
import ModelRuntime
import NIOCore
import NIOPosix
import ServiceLifecycle
import Testing

@testable import ConduitEmbeddings
@testable import ConduitInsights

/// The scheduler shell around the real model: batching, backpressure, cancellation, shutdown.
@Suite("Embedding scheduler")
struct SchedulerTests {
    /// Enough work to keep the model busy for about a second (32 sequences of 256 tokens).
    static let heavyCount = 32
    static func heavyRequest(_ model: EmbeddingModel) -> [[Int32]] {
        let long = model.tokenize(Array(repeating: "busy", count: 300).joined(separator: " ")).ids
        return Array(repeating: long, count: heavyCount)
    }

    /// Runs `body` while `scheduler` runs, then stops it.
    static func running<T: Sendable>(_ scheduler: EmbeddingScheduler, _ body: @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await scheduler.run()
                return nil
            }
            let result = try await body()
            group.cancelAll()
            return result
        }
    }

    /// Waits until every lane of the scheduler has taken a batch beside the `earlier` ones (a heavy
    /// request has a part for each), so that a request sent now waits behind them.
    static func untilEveryLaneBusy(_ scheduler: EmbeddingScheduler, after earlier: Int = 0) async throws {
        let busy = try await eventually(within: .seconds(30), every: .milliseconds(1)) {
            scheduler.statistics.batchesStarted >= earlier + scheduler.backend.laneCount
        }
        guard busy else { throw TestSetupError("not every lane took a batch within 30 s") }
    }

    /// Waits until `requests` requests are admitted and waiting for a batch.
    static func untilQueued(_ scheduler: EmbeddingScheduler, requests: Int) async throws {
        let queued = try await eventually(within: .seconds(30), every: .milliseconds(1)) { scheduler.queueDepth.requests >= requests }
        guard queued else { throw TestSetupError("\(requests) requests were not queued within 30 s") }
    }

    @Test("concurrent requests are merged into a few batches and each gets its own vector")
    func merging() async throws {
        let model = try await TestServer.ownModel()
        // A deadline no slow machine reaches: these tests are about batching and shutdown, and run the real
        // model beside every other test (their compute threads yield to the others, as a server's do).
        let scheduler = EmbeddingScheduler(backend: model, configuration: .init(requestTimeout: .seconds(300)), logger: TestServer.logger)
        let texts = (0..<32).map { "request number \($0) about \(["rivers", "engines", "music", "tea"][$0 % 4])" }
        let expected = try model.embed(texts: texts)  // before the scheduler runs: nothing else holds the model
        try await Self.running(scheduler) {
            async let heavy = scheduler.embed(Self.heavyRequest(model))
            try await Self.untilEveryLaneBusy(scheduler)
            let results = try await withThrowingTaskGroup(of: (Int, [Float]).self) { group in
                for (index, text) in texts.enumerated() {
                    group.addTask { (index, try await scheduler.embed([model.tokenize(text).ids])[0]) }
                }
                return try await group.reduce(into: [Int: [Float]]()) { $0[$1.0] = $1.1 }
            }
            _ = try await heavy
            for index in texts.indices { #expect(cosine(results[index]!, expected[index]) > 0.99999) }
        }
        let statistics = scheduler.statistics
        #expect(statistics.sequences == Self.heavyCount + 32)
        #expect(statistics.batches <= 6, "32 single-text requests arriving during one computation ran in \(statistics.batches) batches")
    }

    @Test("a single text that is all the work runs on every core; a larger request is shared out among the lanes, side by side")
    func lanes() async throws {
        let model = try await TestServer.ownModel()
        // Room for the whole heavy request in one batch: what splits it is the lanes alone.
        let scheduler = EmbeddingScheduler(backend: model, configuration: .init(maxBatchTokens: 16_384), logger: TestServer.logger)
        try await Self.running(scheduler) {
            _ = try await scheduler.embed([model.tokenize("alone").ids])
            #expect(scheduler.statistics.sharedBatches == 1)
            #expect(scheduler.statistics.batches == 1)
            async let heavy = scheduler.embed(Self.heavyRequest(model))
            try await Self.untilEveryLaneBusy(scheduler, after: 1)
            #expect(scheduler.statistics.batches == 1, "the lanes' parts of the heavy request run at once")
            #expect(try await heavy.count == Self.heavyCount)
        }
        #expect(scheduler.statistics.batches == 1 + model.laneCount)
        #expect(scheduler.statistics.sharedBatches == 1)
    }

    @Test("a request that waits behind a batch reports its queue time apart from its time in the model")
    func timings() async throws {
        let backend = GatedBackend(laneCount: 1)
        let clock = ManualClock()
        let scheduler = EmbeddingScheduler(
            backend: backend, configuration: .init(), logger: TestServer.logger, now: { clock.now })
        try await Self.running(scheduler) {
            async let first = scheduler.embedTimed([[101, 7, 102]])
            try await backend.untilStarted(1)
            async let behind = scheduler.embedTimed([[101, 8, 102]])
            try await Self.untilQueued(scheduler, requests: 1)
            // The first batch is in the model for five seconds of the scheduler's time; the second waits for it.
            clock.advance(by: .seconds(5))
            backend.open()
            let (ahead, waited) = try await (first, behind)
            #expect(ahead.queueTime == .zero && ahead.inferenceTime == .seconds(5))
            #expect(waited.queueTime == .seconds(5) && waited.inferenceTime == .zero)
        }
    }

    @Test("a lane hands its scratch memory back when it runs out of work, and the shared pass's too")
    func scratchReleasedWhenIdle() async throws {
        let backend = GatedBackend()
        backend.open()
        let scheduler = EmbeddingScheduler(backend: backend, configuration: .init(), logger: TestServer.logger)
        try await Self.running(scheduler) {
            // One text alone: a shared pass, released once a loop waits again.
            _ = try await scheduler.embed([[101, 7, 102]])
            let shared = try await eventually(within: .seconds(30), every: .milliseconds(1)) { backend.released.contains(nil) }
            #expect(shared, "released: \(backend.released)")
            // Many texts: shared out among the lanes, each released when its loop waits.
            let texts = (0..<64).map { [101, Int32($0), 102] as [Int32] }
            async let first = scheduler.embed(texts)
            async let second = scheduler.embed(texts)
            _ = try await (first, second)
            let lanes = try await eventually(within: .seconds(30), every: .milliseconds(1)) {
                backend.released.contains(0) || backend.released.contains(1)
            }
            #expect(lanes, "released: \(backend.released)")
        }
    }

    @Test("past the queue bound, requests are refused at once, and admitted ones complete")
    func overload() async throws {
        let backend = GatedBackend()
        let scheduler = EmbeddingScheduler(
            backend: backend, configuration: .init(maxQueuedTokens: 10_000, maxQueuedRequests: 3), logger: TestServer.logger)
        try await Self.running(scheduler) {
            // One text alone runs on every lane; it holds the model until the gate opens.
            async let busy = scheduler.embed([[101, 7, 102]])
            try await backend.untilStarted(1)
            let outcomes = await withTaskGroup(of: Result<[[Float]], any Error>.self) { group in
                for index in 0..<12 {
                    group.addTask {
                        do { return .success(try await scheduler.embed([[101, Int32(index), 102]])) } catch { return .failure(error) }
                    }
                }
                // Three wait in the queue; the other nine are refused at once, while the model is still busy.
                var outcomes: [Result<[[Float]], any Error>] = []
                while outcomes.count < 9, let outcome = await group.next() { outcomes.append(outcome) }
                #expect(backend.started == 1, "refused while the first batch is still in the model")
                backend.open()
                return await group.reduce(into: outcomes) { $0.append($1) }
            }
            _ = try await busy
            let refused = outcomes.filter { if case .failure(SchedulerError.overloaded) = $0 { return true } else { return false } }
            let served = outcomes.filter { if case .success = $0 { return true } else { return false } }
            #expect(refused.count == 9 && served.count == 3, "\(refused.count) refused, \(served.count) served")
        }
        #expect(scheduler.statistics.rejected == 9)
    }

    @Test(
        "once the model's pace is known, an API request that would start only past the timeout is refused at once, before or after tokenizing, and other tenants keep their turn"
    )
    func refusalByWait() async throws {
        let clock = ManualClock()
        let backend = PacedBackend(clock: clock, secondsPerToken: 0.01)  // 100 tokens a second
        let scheduler = EmbeddingScheduler(
            backend: backend, configuration: .init(requestTimeout: .seconds(10)), logger: TestServer.logger, now: { clock.now })
        @Sendable func embed(_ count: Int, tenant: String = "a") async throws -> [[Float]] {
            try await scheduler.embedTimed([Array(repeating: 7, count: count)], tenant: tenant).vectors
        }
        try await Self.running(scheduler) {
            // A small pass does not teach the pace; a full one (300 tokens in 3 s) does.
            _ = try await embed(10)
            try scheduler.refuseIfSaturated(tenant: "a")
            _ = try await embed(EmbeddingScheduler.fullBatchTokens + 44)
            backend.hold()
            async let busy = embed(3)
            try await backend.untilStarted(3)
            let first = Task { try await embed(500) }  // starts at once
            try await Self.untilQueued(scheduler, requests: 1)
            let second = Task { try await embed(600) }  // starts after 5 s
            try await Self.untilQueued(scheduler, requests: 2)
            // Would start after 11 s, past the 10 s timeout: refused, told to come back in the second it is over.
            await #expect(throws: SchedulerError.overloaded(queuedTokens: 1100, queuedRequests: 2, retryAfter: .seconds(1))) {
                try await embed(10)
            }
            // Another tenant takes turns with "a": with nothing waiting, it goes first.
            let other = Task { try await embed(200, tenant: "b") }
            try await Self.untilQueued(scheduler, requests: 3)
            // a's next request waits 13 s whatever its size: refused before it is tokenized. c's is not.
            #expect(throws: SchedulerError.self) { try scheduler.refuseIfSaturated(tenant: "a") }
            try scheduler.refuseIfSaturated(tenant: "c")
            backend.release()
            for task in [first, second, other] { #expect(try await task.value.count == 1) }
            _ = try await busy
        }
        #expect(scheduler.statistics.rejected == 2)
    }

    @Test(
        "from a body's size alone, a request the queue has no room for is refused before it is read, at the fewest tokens per byte recent requests had; a smaller body, a request of another tenant, and one of unknown size are not"
    )
    func refusalBySize() async throws {
        let backend = GatedBackend()
        let scheduler = EmbeddingScheduler(
            backend: backend, configuration: .init(maxQueuedTokens: 100, maxQueuedRequests: 10), logger: TestServer.logger)
        try await Self.running(scheduler) {
            async let busy = scheduler.embed([[101, 7, 102]])
            try await backend.untilStarted(1)
            // 60 tokens in 600 bytes waits; the room left is 40 tokens.
            let waiting = Task { try await scheduler.embedTimed([Array(repeating: 7, count: 60)], tenant: "a", bodyBytes: 600) }
            try await Self.untilQueued(scheduler, requests: 1)
            await #expect(throws: SchedulerError.overloaded(queuedTokens: 60, queuedRequests: 1, retryAfter: .seconds(1))) {
                try scheduler.refuseIfSaturated(tenant: "a", bodyBytes: 600)
            }
            try scheduler.refuseIfSaturated(tenant: "a", bodyBytes: 400)  // at least 40 tokens: fits
            try scheduler.refuseIfSaturated(tenant: "a")
            try scheduler.refuseIfSaturated(tenant: "b", bodyBytes: 600)  // b has nothing waiting
            backend.open()
            _ = try await (busy, waiting.value)
        }
        #expect(scheduler.statistics.rejected == 1)
    }

    @Test("a cancelled request is dropped before it is computed")
    func cancellation() async throws {
        let backend = GatedBackend()
        let scheduler = EmbeddingScheduler(backend: backend, configuration: .init(), logger: TestServer.logger)
        try await Self.running(scheduler) {
            async let busy = scheduler.embed([[101, 7, 102]])
            try await backend.untilStarted(1)
            let doomed = Task { try await scheduler.embed([[101, 8, 102]]) }
            while scheduler.queueDepth.requests == 0 { await Task.yield() }
            doomed.cancel()
            backend.open()
            await #expect(throws: CancellationError.self) { try await doomed.value }
            _ = try await busy
        }
        #expect(scheduler.statistics.cancelled == 1)
        #expect(scheduler.statistics.sequences == 1, "the cancelled text never reached the model")
    }

    @Test("a request that waited past its deadline is dropped with deadlineExceeded")
    func deadline() async throws {
        let backend = GatedBackend()
        let clock = ManualClock()
        let scheduler = EmbeddingScheduler(
            backend: backend, configuration: .init(requestTimeout: .seconds(30)), logger: TestServer.logger, now: { clock.now })
        try await Self.running(scheduler) {
            // Background work has no deadline: it reaches the model however slowly a loop wakes.
            async let busy = scheduler.embed([[101, 7, 102]], priority: .background)
            try await backend.untilStarted(1)
            let late = Task { try await scheduler.embed([[101, 8, 102]]) }
            try await Self.untilQueued(scheduler, requests: 1)
            // Past its 30 s while the model is busy; the next batch drops it instead of computing it.
            clock.advance(by: .seconds(31))
            backend.open()
            await #expect(throws: SchedulerError.deadlineExceeded) { try await late.value }
            _ = try await busy
        }
        #expect(scheduler.statistics.expired == 1)
        #expect(scheduler.statistics.sequences == 1)
    }

    @Test("graceful shutdown finishes every admitted request, then refuses new ones")
    func gracefulShutdown() async throws {
        let model = try await TestServer.ownModel()
        // A deadline no slow machine reaches: these tests are about batching and shutdown, and run the real
        // model beside every other test (their compute threads yield to the others, as a server's do).
        let scheduler = EmbeddingScheduler(backend: model, configuration: .init(requestTimeout: .seconds(300)), logger: TestServer.logger)
        let group = ServiceGroup(services: [scheduler], logger: TestServer.logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            async let heavy = scheduler.embed(Self.heavyRequest(model))
            try await Self.untilEveryLaneBusy(scheduler)
            let others = (0..<8).map { index in Task { try await scheduler.embed([model.tokenize("drain \(index)").ids]) } }
            try await Task.sleep(for: .milliseconds(50))
            await group.triggerGracefulShutdown()
            // The refusal starts once the shutdown reaches the scheduler: soon, however busy the machine. Asked
            // without a request, which, admitted, would wait for the heavy one.
            var refused = false
            let deadline = ContinuousClock.now + .seconds(30)
            while !refused && ContinuousClock.now < deadline {
                do { try scheduler.refuseIfSaturated() } catch SchedulerError.shuttingDown { refused = true }
                try await Task.sleep(for: .milliseconds(5))
            }
            #expect(refused)
            await #expect(throws: SchedulerError.shuttingDown) { try await scheduler.embed([[101, 102]]) }
            #expect(try await heavy.count == Self.heavyCount)
            // Each of the others was either admitted before the shutdown, and then computed, or refused at the door:
            // none was admitted and then dropped.
            var turnedAway = 0
            for task in others {
                do { #expect(try await task.value.count == 1) } catch SchedulerError.shuttingDown { turnedAway += 1 }
            }
            #expect(scheduler.statistics.rejected == turnedAway + 2, "every refusal was at admission")
            try await tasks.waitForAll()
        }
    }

    @Test("a retired scheduler serves what comes until it has been quiet for the grace period, then finishes what it admitted and stops")
    func retirement() async throws {
        // One lane: what comes while the held request is in the model waits in the queue.
        let backend = GatedBackend(laneCount: 1)
        let clock = ManualClock()
        let scheduler = EmbeddingScheduler(backend: backend, configuration: .init(), logger: TestServer.logger, now: { clock.now })
        let running = Task { try await scheduler.run() }
        // Admitted before the retirement starts, and held in the model until the end: computed all the same.
        let held = Task { try await scheduler.embed([[101, 7, 102]]) }
        try await backend.untilStarted(1)
        let grace = Duration.seconds(2)
        let retiring = Task {
            await scheduler.retire(after: grace)
            return clock.now
        }
        // Within the grace period, each admission starts it again.
        var answers: [Task<[[Float]], any Error>] = []
        for index in 0..<3 {
            answers.append(Task { try await scheduler.embed([[101, Int32(index), 102]]) })
            try await Self.untilQueued(scheduler, requests: index + 1)
            clock.advance(by: .seconds(1))
        }
        // Three seconds after the retirement began, one since the last admission: still serving.
        let lastAdmission = clock.now
        answers.append(Task { try await scheduler.embed([[101, 9, 102]]) })
        try await Self.untilQueued(scheduler, requests: 4)
        clock.advance(by: grace)
        #expect(await retiring.value >= lastAdmission + grace)
        await #expect(throws: SchedulerError.self) { try await scheduler.embed([[101, 102]]) }
        backend.open()
        #expect(try await held.value.count == 1)
        for answer in answers { #expect(try await answer.value.count == 1) }
        try await running.value
    }

    @Test("a retirement waits for a request that reserved the scheduler, however long it takes to submit")
    func retirementWaitsForReservations() async throws {
        let backend = GatedBackend()
        backend.open()
        let clock = ManualClock()
        let scheduler = EmbeddingScheduler(backend: backend, configuration: .init(), logger: TestServer.logger, now: { clock.now })
        let running = Task { try await scheduler.run() }
        let retiring = try await scheduler.reserved { () async throws -> Task<Void, Never> in
            let retiring = Task { await scheduler.retire(after: .milliseconds(50)) }
            clock.advance(by: .seconds(10))
            #expect(try await scheduler.embed([[101, 7, 102]]).count == 1, "reserved: still admitted well past the grace period")
            return retiring
        }
        // The retirement counts its quiet on the scheduler's clock, from the last admission.
        clock.advance(by: .seconds(1))
        await retiring.value
        await #expect(throws: SchedulerError.self) { try await scheduler.embed([[101, 7, 102]]) }
        try await running.value
    }
}
