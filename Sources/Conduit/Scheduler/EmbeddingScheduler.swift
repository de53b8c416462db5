import Logging
import ModelRuntime
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Runs embedding requests through the model in dynamically formed batches.
///
/// Callers `await` ``embed(_:)``; the service's ``run()`` loop forms a batch from whatever is
/// waiting the moment the model is free (no artificial delay when idle) and computes it on a
/// thread of its own, off the event loops and the cooperative pool. While one batch computes,
/// new requests gather into the next. On graceful shutdown it stops admitting, finishes what
/// it admitted, then returns.
public final class EmbeddingScheduler: Service, Sendable {
    /// Counters for tests and metrics.
    public struct Statistics: Sendable, Equatable {
        public var batches = 0
        public var sequences = 0
        public var tokens = 0
        public var rejected = 0
        public var cancelled = 0
        public var expired = 0
    }

    private struct State: Sendable {
        var queue: BatchQueue<ContinuousClock.Instant>
        var waiters: [UInt64: CheckedContinuation<[[Float]], any Error>] = [:]
        var nextID: UInt64 = 0
        var statistics = Statistics()
    }

    public let model: EmbeddingModel
    public let configuration: SchedulerConfiguration
    private let state: Mutex<State>
    private let wakeUps: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let computeThread = NIOThreadPool(numberOfThreads: 1)
    private let logger: Logger

    public init(model: EmbeddingModel, configuration: SchedulerConfiguration, logger: Logger) {
        self.model = model
        self.configuration = configuration
        self.logger = logger
        let limits = BatchQueue<ContinuousClock.Instant>.Limits(
            maxBatchTokens: configuration.maxBatchTokens, maxBatchSequences: configuration.maxBatchSequences,
            maxQueuedTokens: configuration.maxQueuedTokens, maxQueuedRequests: configuration.maxQueuedRequests)
        state = Mutex(State(queue: BatchQueue(limits: limits)))
        (wakeUps, wake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
        computeThread.start()
    }

    public var statistics: Statistics { state.withLock { $0.statistics } }

    /// Embeds `sequences` of token ids; throws ``SchedulerError`` when not admitted or dropped,
    /// and `CancellationError` when the calling task is cancelled, or `isAbandoned` turns true, before its turn.
    public func embed(_ sequences: [[Int32]], isAbandoned: @escaping @Sendable () -> Bool = { false }) async throws -> [[Float]] {
        guard !sequences.isEmpty else { return [] }
        let deadline = ContinuousClock.now + configuration.requestTimeout
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let admission: BatchQueue<ContinuousClock.Instant>.Admission? = state.withLock { state in
                    // Checked under the lock: a cancellation that lands after this sees the request queued.
                    if Task.isCancelled { return nil }
                    let admission = state.queue.enqueue(id: id, sequences: sequences, deadline: deadline, isAbandoned: isAbandoned)
                    if admission == .admitted { state.waiters[id] = continuation } else { state.statistics.rejected += 1 }
                    return admission
                }
                switch admission {
                case nil: continuation.resume(throwing: CancellationError())
                case .admitted: wake.yield()
                case .rejectedClosed: continuation.resume(throwing: SchedulerError.shuttingDown)
                case .rejectedQueueFull(let tokens, let requests):
                    continuation.resume(throwing: SchedulerError.overloaded(queuedTokens: tokens, queuedRequests: requests))
                }
            }
        } onCancel: {
            cancel(id)
        }
    }

    private func cancel(_ id: UInt64) {
        let waiter = state.withLock { state -> CheckedContinuation<[[Float]], any Error>? in
            guard state.queue.cancel(id: id) else { return nil }
            state.statistics.cancelled += 1
            return state.waiters.removeValue(forKey: id)
        }
        waiter?.resume(throwing: CancellationError())
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await batchLoop()
        } onGracefulShutdown: {
            self.state.withLock { $0.queue.close() }
            self.wake.yield()
        }
        failAllWaiters()
        try await computeThread.shutdownGracefully()
    }

    private enum Step {
        case compute(BatchQueue<ContinuousClock.Instant>.Batch)
        case wait
        case finish
    }

    private func batchLoop() async {
        var wakeUpIterator = wakeUps.makeAsyncIterator()
        while !Task.isCancelled {
            let (step, expired, abandoned) = state.withLock { state in
                let (batch, expiredIDs, abandonedIDs) = state.queue.nextBatch(now: .now)
                state.statistics.expired += expiredIDs.count
                state.statistics.cancelled += abandonedIDs.count
                let expired = expiredIDs.compactMap { state.waiters.removeValue(forKey: $0) }
                let abandoned = abandonedIDs.compactMap { state.waiters.removeValue(forKey: $0) }
                let step: Step = if let batch { .compute(batch) } else if state.queue.isDrained { .finish } else { .wait }
                return (step, expired, abandoned)
            }
            for waiter in expired { waiter.resume(throwing: SchedulerError.deadlineExceeded) }
            for waiter in abandoned { waiter.resume(throwing: CancellationError()) }
            switch step {
            case .compute(let batch):
                await compute(batch)
            case .wait:
                guard await wakeUpIterator.next() != nil else { return }
            case .finish:
                return
            }
        }
    }

    private func compute(_ batch: BatchQueue<ContinuousClock.Instant>.Batch) async {
        let model = self.model
        let sequences = batch.items.map(\.tokens)
        do {
            let vectors = try await computeThread.runIfActive { try model.embed(sequences) }
            let finished = state.withLock { state in
                state.statistics.batches += 1
                state.statistics.sequences += sequences.count
                state.statistics.tokens += batch.tokenCount
                return state.queue.complete(batch, vectors: vectors).compactMap { result in
                    state.waiters.removeValue(forKey: result.id).map { ($0, result.vectors) }
                }
            }
            for (waiter, vectors) in finished { waiter.resume(returning: vectors) }
        } catch {
            logger.error("embedding batch failed", metadata: ["error": "\(error)", "sequences": "\(sequences.count)"])
            let failed = state.withLock { state in
                state.queue.fail(batch).compactMap { state.waiters.removeValue(forKey: $0) }
            }
            for waiter in failed { waiter.resume(throwing: error) }
        }
    }

    private func failAllWaiters() {
        let waiters = state.withLock { state in
            state.queue.close()
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(throwing: SchedulerError.shuttingDown) }
    }
}
