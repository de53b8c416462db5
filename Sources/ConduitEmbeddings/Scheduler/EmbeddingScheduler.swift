import ConduitCore
import CoreMetrics
import Dispatch
import Logging
import ModelRuntime
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Runs embedding requests through the model in dynamically formed batches.
///
/// Callers `await` ``embed(_:)``; the service's ``run()`` starts a compute loop per lane of the model
/// (one per core), each on a thread of its own, off the event loops and the cooperative pool. A loop
/// forms a batch from whatever is waiting the moment it is free (no artificial delay when idle), and
/// while batches compute, new requests gather into the next. A loop takes its next batch itself, on
/// its own thread: were it to hop back to the cooperative pool between batches, it would wait there
/// behind the very requests and responses it serves, and the model would sit idle.
///
/// The loops share out what waits: each takes its share of the waiting tokens among the loops not
/// computing, and leaves the rest to the next one, which it wakes; each runs its batch on its own core
/// (``EmbeddingModel/embed(_:lane:)``). A single sequence that is all the work there is runs on every
/// core instead, and the other loops wait for it, so that one request alone is answered as fast as
/// the cores together can.
///
/// Admission is bounded in time as well as in size: once the model has run full batches, the scheduler
/// knows how many tokens a second the node computes, and refuses an API request that would wait behind
/// more than `requestTimeout` of work before it starts (it would only be dropped at its deadline, its
/// wait wasted).
/// ``refuseIfSaturated(tenant:bodyBytes:)`` answers the same question before a request is tokenized,
/// and, from the size of its body, before it is read: a flood of requests the node cannot serve costs
/// it little more than draining them. The compute threads run at a
/// lower priority than the event loops (see ``EncoderThreads``): refusals and health checks are
/// answered at once while the model computes.
///
/// On graceful shutdown the scheduler stops admitting, finishes what it admitted, then returns.
public final class EmbeddingScheduler: Service, Sendable {
    /// Counters for tests and metrics.
    public struct Statistics: Sendable, Equatable {
        /// Batches formed, those of them formed to run on every core, and those computed.
        public var batchesStarted = 0
        public var batches = 0
        public var sharedBatches = 0
        public var sequences = 0
        public var tokens = 0
        public var rejected = 0
        public var cancelled = 0
        public var expired = 0
    }

    /// One request's vectors, in input order, and where its time went.
    public struct Embedded: Sendable {
        public var vectors: [[Float]]
        /// From admission until its first text went into a batch.
        public var queueTime: Duration
        /// From then until its last text came out of the model.
        public var inferenceTime: Duration
        /// When its last text came out of the model.
        public var completed: ContinuousClock.Instant
        /// Texts and tokens of the batch that computed its last text (the request's own and others').
        public var batchSequences: Int
        public var batchTokens: Int
    }

    private typealias Waiter = CheckedContinuation<Embedded, any Error>

    /// When a waiting request was admitted and when its first text went into a batch.
    private struct Timing: Sendable {
        var admitted: ContinuousClock.Instant
        var started: ContinuousClock.Instant?
    }

    private struct State: Sendable {
        var configuration: SchedulerConfiguration
        var queue: BatchQueue<ContinuousClock.Instant>
        var waiters: [UInt64: Waiter] = [:]
        var timings: [UInt64: Timing] = [:]
        var nextID: UInt64 = 0
        var lastAdmission: ContinuousClock.Instant = .now
        var statistics = Statistics()
        /// Compute loops (their lanes) that found nothing to do and sleep until their `wakeUps`
        /// semaphore is signalled, the last to sleep last.
        var waitingLoops: [Int] = []
        /// Compute loops running a batch.
        var busyLoops = 0
        /// A pass on every core is running: no other loop starts one until it ends.
        var sharedPassRunning = false
        /// Set when the service is cancelled: the loop returns without draining.
        var isStopped = false
        /// Tokens a second the node computes with every lane busy, from the full batches it ran (a moving
        /// average); nil until the first.
        var tokensPerSecond: Double?
        /// What recent API requests' bodies held, to refuse a body from its size before it is parsed.
        var tokensPerByte = TokensPerByte()

        /// The refusal for an API request of `tenant` that would start only after the request
        /// timeout, or nil if it would start in time (or the rate is not known yet).
        func refusalByTime(tenant: String) -> SchedulerError? {
            guard let tokensPerSecond else { return nil }
            let wait = Duration.seconds(Double(queue.interactiveTokensAhead(of: tenant)) / tokensPerSecond)
            guard wait > configuration.requestTimeout else { return nil }
            // Once that much has been computed it would start in time; never later than a timeout from now.
            let retryAfter = min(wait - configuration.requestTimeout, configuration.requestTimeout)
            return .overloaded(queuedTokens: queue.queuedTokens, queuedRequests: queue.queuedRequests, retryAfter: retryAfter)
        }

        /// When a request refused by the queue's bounds may find room: once what waits has been
        /// computed, as far as the rate tells, and never past the request timeout.
        func retryAfter() -> Duration {
            let drained = tokensPerSecond.map { Duration.seconds(Double(queue.queuedTokens) / $0) } ?? .zero
            return min(configuration.requestTimeout, max(.seconds(1), drained))
        }

        /// Marks a waiting loop awake and returns its lane, whose semaphore the caller must signal: the
        /// one that went to sleep last, so that under light load one thread, its caches warm, does the
        /// work. None is woken during a shared pass: the loop running it takes the next batch when it
        /// ends, and wakes others from there.
        mutating func takeWakeUp() -> [Int] {
            guard !sharedPassRunning, let lane = waitingLoops.popLast() else { return [] }
            return [lane]
        }

        /// Marks every waiting loop awake; returns the lanes to signal.
        mutating func takeAllWakeUps() -> [Int] {
            defer { waitingLoops = [] }
            return waitingLoops
        }
    }

    /// What the batches run on.
    public let backend: any EmbeddingBackend
    private let state: Mutex<State>
    private let wakeUps: [DispatchSemaphore]
    /// Requests that chose this scheduler and have not been answered yet (see `reserved`).
    private let reservations = Atomic<Int>(0)
    private let computeThreads: NIOThreadPool
    private let logger: Logger
    private let metrics: SchedulerMetrics
    /// The time as the scheduler reads it: deadlines, queue and model times, the quiet of a retirement.
    private let now: @Sendable () -> ContinuousClock.Instant

    /// - Parameter tokensPerSecond: the node's pace on a full batch where it is known at start (timed
    ///   at the model's warm-up); otherwise learnt from the first full batches.
    /// - Parameter now: the clock; tests pass one they move by hand.
    public init(
        backend: some EmbeddingBackend, configuration: SchedulerConfiguration, logger: Logger,
        metricsFactory: any MetricsFactory = NOOPMetricsHandler.instance, tokensPerSecond: Double? = nil,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.now = now
        self.backend = backend
        self.logger = logger
        self.metrics = SchedulerMetrics(factory: metricsFactory)
        state = Mutex(State(configuration: configuration, queue: BatchQueue(limits: Self.limits(configuration))))
        state.withLock {
            $0.lastAdmission = now()
            $0.tokensPerSecond = tokensPerSecond
        }
        computeThreads = NIOThreadPool(numberOfThreads: backend.laneCount)
        wakeUps = (0..<backend.laneCount).map { _ in DispatchSemaphore(value: 0) }
    }

    private static func limits(_ configuration: SchedulerConfiguration) -> BatchQueue<ContinuousClock.Instant>.Limits {
        .init(
            maxBatchTokens: configuration.maxBatchTokens, maxBatchSequences: configuration.maxBatchSequences,
            maxQueuedTokens: configuration.maxQueuedTokens, maxQueuedRequests: configuration.maxQueuedRequests,
            maxBackgroundBatchTokens: configuration.maxBackgroundBatchTokens)
    }

    public var configuration: SchedulerConfiguration { state.withLock { $0.configuration } }

    /// Takes new limits (a configuration reload): requests already admitted keep their place and
    /// their deadline; the next admissions and batches follow the new limits.
    public func update(_ configuration: SchedulerConfiguration) {
        state.withLock { state in
            state.configuration = configuration
            state.queue.limits = Self.limits(configuration)
        }
    }

    public var statistics: Statistics { state.withLock { $0.statistics } }

    /// Requests admitted and waiting, and their tokens not yet in a batch.
    public var queueDepth: (requests: Int, tokens: Int) {
        state.withLock { ($0.queue.queuedRequests, $0.queue.queuedTokens) }
    }

    /// Embeds `sequences` of token ids; throws ``SchedulerError`` when not admitted or dropped,
    /// and `CancellationError` when the calling task is cancelled, or `isAbandoned` turns true, before its turn.
    public func embed(
        _ sequences: [[Int32]], priority: EmbeddingPriority = .interactive, isAbandoned: @escaping @Sendable () -> Bool = { false }
    ) async throws -> [[Float]] {
        try await embedTimed(sequences, priority: priority, isAbandoned: isAbandoned).vectors
    }

    /// ``embed(_:isAbandoned:)``, with the time the request spent waiting and in the model. `tenant` (the
    /// API key) is who the model is shared fairly between while it is contended; `bodyBytes`, the size
    /// of the API request the sequences came from, teaches ``refuseIfSaturated(tenant:bodyBytes:)``.
    public func embedTimed(
        _ sequences: [[Int32]], priority: EmbeddingPriority = .interactive, tenant: String = "", bodyBytes: Int? = nil,
        isAbandoned: @escaping @Sendable () -> Bool = { false }
    ) async throws -> Embedded {
        guard !sequences.isEmpty else {
            return Embedded(vectors: [], queueTime: .zero, inferenceTime: .zero, completed: now(), batchSequences: 0, batchTokens: 0)
        }
        let (id, deadline) = state.withLock { state in
            state.nextID += 1
            // Background work waits its turn however long interactive requests keep coming: no deadline.
            let timeout = priority == .background ? Duration.seconds(86_400 * 365) : state.configuration.requestTimeout
            return (state.nextID, now() + timeout)
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let (refusal, lanesToWake) = state.withLock { state -> ((any Error)?, [Int]) in
                    if let bodyBytes { state.tokensPerByte.record(tokens: sequences.reduce(0) { $0 + $1.count }, bytes: bodyBytes) }
                    // Checked under the lock: a cancellation that lands after this sees the request queued.
                    if Task.isCancelled { return (CancellationError(), []) }
                    if priority == .interactive, let refusal = state.refusalByTime(tenant: tenant) {
                        state.statistics.rejected += 1
                        return (refusal, [])
                    }
                    switch state.queue.enqueue(
                        id: id, sequences: sequences, deadline: deadline, priority: priority, tenant: tenant, isAbandoned: isAbandoned)
                    {
                    case .admitted:
                        state.waiters[id] = continuation
                        let admitted = now()
                        state.timings[id] = Timing(admitted: admitted)
                        state.lastAdmission = admitted
                        recordQueue(state)
                        return (nil, state.takeWakeUp())
                    case .rejectedClosed:
                        state.statistics.rejected += 1
                        return (SchedulerError.shuttingDown, [])
                    case .rejectedQueueFull(let tokens, let requests):
                        state.statistics.rejected += 1
                        return (
                            SchedulerError.overloaded(queuedTokens: tokens, queuedRequests: requests, retryAfter: state.retryAfter()), []
                        )
                    }
                }
                for lane in lanesToWake { wakeUps[lane].signal() }
                if let refusal {
                    record(refusal)
                    continuation.resume(throwing: refusal)
                }
            }
        } onCancel: {
            cancel(id)
        }
    }

    /// Throws the refusal an API request of `tenant` would get now, before it is tokenized: when the
    /// queue has no room for it, or what it would wait behind takes the model longer than the request
    /// timeout. Without `bodyBytes` (the size of its body), whatever its size; with it, at the fewest
    /// tokens recent requests had in as many bytes.
    public func refuseIfSaturated(tenant: String = "", bodyBytes: Int? = nil) throws {
        let refusal = state.withLock { state -> SchedulerError? in
            let refusal: SchedulerError?
            // Past the queue's bound every size is refused alike: the sum with what is queued cannot overflow.
            let tokens = min(bodyBytes.map { state.tokensPerByte.fewestTokens(inBytes: $0) } ?? 1, state.queue.limits.maxQueuedTokens + 1)
            if state.queue.isClosed {
                refusal = .shuttingDown
            } else if state.queue.refuses(tokens: tokens, tenant: tenant) {
                refusal = .overloaded(
                    queuedTokens: state.queue.queuedTokens, queuedRequests: state.queue.queuedRequests, retryAfter: state.retryAfter())
            } else {
                refusal = state.refusalByTime(tenant: tenant)
            }
            if refusal != nil { state.statistics.rejected += 1 }
            return refusal
        }
        if let refusal {
            record(refusal)
            throw refusal
        }
    }

    private func record(_ refusal: any Error) {
        switch refusal {
        case SchedulerError.shuttingDown: metrics.rejectedShuttingDown.increment()
        case SchedulerError.overloaded: metrics.rejectedOverloaded.increment()
        default: break
        }
    }

    private func cancel(_ id: UInt64) {
        let waiter = state.withLock { state -> Waiter? in
            guard state.queue.cancel(id: id) else { return nil }
            state.statistics.cancelled += 1
            state.timings[id] = nil
            recordQueue(state)
            return state.waiters.removeValue(forKey: id)
        }
        waiter?.resume(throwing: CancellationError())
    }

    public func run() async throws {
        // The lanes' threads live exactly as long as the service runs: a scheduler never run holds none.
        computeThreads.start()
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withTaskGroup(of: Void.self) { group in
                    for lane in 0..<self.backend.laneCount {
                        group.addTask { try? await self.computeThreads.runIfActive { self.computeLoop(lane: lane) } }
                    }
                }
            } onGracefulShutdown: {
                self.stop(draining: true)
            }
        } onCancel: {
            self.stop(draining: false)
        }
        failAllWaiters()
        try await computeThreads.shutdownGracefully()
    }

    /// Runs `body` with this scheduler reserved: a request that chose it holds it so from then until it
    /// is answered, and a retirement waits for every reservation to end.
    public func reserved<T>(_ body: () async throws -> T) async rethrows -> T {
        reservations.add(1, ordering: .relaxed)
        defer { reservations.subtract(1, ordering: .relaxed) }
        return try await body()
    }

    /// For a model a reload replaced: once no request holds it reserved and nothing has been admitted
    /// for `grace`, stops admitting; `run()` then returns when what was admitted is computed. A graceful
    /// shutdown cuts the wait short.
    public func retire(after grace: Duration) async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let quietUntil = state.withLock { $0.lastAdmission } + grace
            let isReserved = reservations.load(ordering: .relaxed) > 0
            let quietFor = quietUntil - now()
            guard isReserved || quietFor > .zero else { break }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: isReserved ? .milliseconds(50) : quietFor) }
        }
        stop(draining: true)
    }

    /// Stops admitting; the compute loops then return once the queue is drained, or at once when
    /// `draining` is false.
    private func stop(draining: Bool) {
        let lanes = state.withLock { state in
            state.queue.close()
            if !draining { state.isStopped = true }
            return state.takeAllWakeUps()
        }
        for lane in lanes { wakeUps[lane].signal() }
    }

    private enum Step {
        /// `lane` nil: the pass runs on every core.
        case compute(BatchQueue<ContinuousClock.Instant>.Batch, lane: Int?)
        case wait
        case finish
    }

    /// Runs on a compute thread of its own for the life of the service.
    private func computeLoop(lane: Int) {
        // The pool's threads are this scheduler's alone: they stay below the event loops for their life.
        EncoderThreads.lowerCurrentThreadPriority()
        // The passes this loop ran since it last waited: their scratch memory is handed back when it waits.
        var ranOnLane = false
        var ranShared = false
        while true {
            let (step, expired, abandoned, lanesToWake) = state.withLock { state -> (Step, [Waiter], [Waiter], [Int]) in
                if state.isStopped { return (.finish, [], [], state.takeAllWakeUps()) }
                if state.sharedPassRunning {
                    state.waitingLoops.append(lane)
                    return (.wait, [], [], [])
                }
                let now = self.now()
                let idleLoops = backend.laneCount - state.busyLoops
                let share = (state.queue.queuedTokens + idleLoops - 1) / idleLoops
                let (batch, expiredIDs, abandonedIDs) = state.queue.nextBatch(now: now, tokenBudget: share)
                if batch != nil { state.statistics.batchesStarted += 1 }
                state.statistics.expired += expiredIDs.count
                state.statistics.cancelled += abandonedIDs.count
                metrics.droppedDeadline.increment(by: expiredIDs.count)
                metrics.droppedAbandoned.increment(by: abandonedIDs.count)
                // A request dropped at its deadline waited too: the histogram must show the worst waits.
                for id in expiredIDs {
                    if let admitted = state.timings.removeValue(forKey: id)?.admitted {
                        metrics.queueWait.recordInterval(since: admitted, until: now)
                    }
                }
                for id in abandonedIDs { state.timings[id] = nil }
                for item in batch?.items ?? [] where state.timings[item.request]?.started == nil {
                    guard let admitted = state.timings[item.request]?.admitted else { continue }
                    state.timings[item.request]?.started = now
                    metrics.queueWait.recordInterval(since: admitted, until: now)
                }
                recordQueue(state)
                let expired = expiredIDs.compactMap { state.waiters.removeValue(forKey: $0) }
                let abandoned = abandonedIDs.compactMap { state.waiters.removeValue(forKey: $0) }
                guard let batch else {
                    if state.queue.isDrained { return (.finish, expired, abandoned, state.takeAllWakeUps()) }
                    state.waitingLoops.append(lane)
                    return (.wait, expired, abandoned, [])
                }
                state.busyLoops += 1
                if batch.items.count == 1 && state.busyLoops == 1 && state.queue.queuedRequests == 0 {
                    state.sharedPassRunning = true
                    state.statistics.sharedBatches += 1
                    return (.compute(batch, lane: nil), expired, abandoned, [])
                }
                // What is left is the next idle loop's to share out, and so on down the line.
                let next = state.queue.queuedRequests > 0 ? state.takeWakeUp() : []
                return (.compute(batch, lane: lane), expired, abandoned, next)
            }
            for other in lanesToWake { wakeUps[other].signal() }
            for waiter in expired { waiter.resume(throwing: SchedulerError.deadlineExceeded) }
            for waiter in abandoned { waiter.resume(throwing: CancellationError()) }
            switch step {
            case .compute(let batch, let passLane):
                compute(batch, lane: passLane)
                if passLane == nil { ranShared = true } else { ranOnLane = true }
                state.withLock { state in
                    state.busyLoops -= 1
                    if passLane == nil { state.sharedPassRunning = false }
                }
            case .wait:
                if ranOnLane { backend.releaseScratch(lane: lane) }
                if ranShared { backend.releaseScratch(lane: nil) }
                (ranOnLane, ranShared) = (false, false)
                wakeUps[lane].wait()
            case .finish: return
            }
        }
    }

    /// The least tokens of a batch the rate is learnt from: a small pass spends most of its time
    /// streaming the weights, and would make the node look many times slower than it is under load.
    static let fullBatchTokens = 256

    private func recordQueue(_ state: borrowing State) {
        metrics.queuedRequests.record(state.queue.queuedRequests)
        metrics.queuedTokens.record(state.queue.queuedTokens)
    }

    private func compute(_ batch: BatchQueue<ContinuousClock.Instant>.Batch, lane: Int?) {
        let sequences = batch.items.map(\.tokens)
        let tokenCount = batch.tokenCount
        metrics.batchSequences.record(sequences.count)
        metrics.batchTokens.record(tokenCount)
        do {
            let start = now()
            let vectors = try backend.embed(sequences, lane: lane)
            let seconds = (now() - start) / .seconds(1)
            metrics.forward.recordInterval(since: start, until: now())
            metrics.tokens.increment(by: tokenCount)
            let finished = state.withLock { state in
                if seconds > 0 && tokenCount >= Self.fullBatchTokens {
                    // A pass on one lane is one core's share of the node; a shared pass is the whole node.
                    let rate = Double(tokenCount) / seconds * Double(lane == nil ? 1 : backend.laneCount)
                    state.tokensPerSecond = state.tokensPerSecond.map { 0.8 * $0 + 0.2 * rate } ?? rate
                }
                state.statistics.batches += 1
                state.statistics.sequences += sequences.count
                state.statistics.tokens += tokenCount
                let now = self.now()
                return state.queue.complete(batch, vectors: vectors).compactMap { result -> (Waiter, Embedded)? in
                    let timing = state.timings.removeValue(forKey: result.id)
                    let started = timing?.started ?? now
                    return state.waiters.removeValue(forKey: result.id).map { waiter in
                        (
                            waiter,
                            Embedded(
                                vectors: result.vectors, queueTime: started - (timing?.admitted ?? started),
                                inferenceTime: now - started, completed: now, batchSequences: sequences.count, batchTokens: tokenCount)
                        )
                    }
                }
            }
            for (waiter, embedded) in finished { waiter.resume(returning: embedded) }
        } catch {
            logger.error("embedding batch failed", metadata: ["error": "\(error)", "sequences": "\(sequences.count)"])
            let failed = state.withLock { state in
                state.queue.fail(batch).compactMap { id in
                    state.timings[id] = nil
                    return state.waiters.removeValue(forKey: id)
                }
            }
            for waiter in failed { waiter.resume(throwing: error) }
        }
    }

    private func failAllWaiters() {
        let waiters = state.withLock { state in
            state.queue.close()
            defer {
                state.waiters.removeAll()
                state.timings.removeAll()
            }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(throwing: SchedulerError.shuttingDown) }
    }
}
