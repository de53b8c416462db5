import ConduitCore

/// The batching decisions of the embedding scheduler, with no threads, clocks or I/O.
///
/// Requests wait in arrival order, interactive ones ahead of background ones (batch jobs), which run
/// in passes of their own, small ones, when no interactive request waits. Between tenants (API keys)
/// the model is shared fairly: an interactive request goes ahead of the requests of tenants that have
/// more waiting than its own has, so a small request is not stuck behind another caller's large one,
/// and a tenant with nothing waiting is admitted even when others have filled the token bound.
/// A batch takes sequences from the head of the queue
/// until the next one would overflow the token or sequence budget; a request may be split
/// across batches. Admission is bounded by the tokens and requests already waiting, so the
/// queue can never grow without limit. Requests whose deadline has passed are dropped when
/// the next batch is formed, before any work is spent on them.
package struct BatchQueue<Instant: Comparable & Sendable>: Sendable {
    package struct Limits: Sendable, Equatable {
        /// Most tokens computed in one forward pass (all sequences together).
        package var maxBatchTokens: Int
        /// Most sequences computed in one forward pass.
        package var maxBatchSequences: Int
        /// Most tokens waiting, not yet in a batch. A request larger than this is still admitted into an empty queue.
        package var maxQueuedTokens: Int
        /// Most requests waiting.
        package var maxQueuedRequests: Int
        /// Most tokens of background requests in one forward pass: a pass cannot be interrupted, so an
        /// interactive request that arrives during one waits at most this much work.
        package var maxBackgroundBatchTokens = Int.max
    }

    package enum Admission: Equatable, Sendable {
        case admitted
        case rejectedQueueFull(queuedTokens: Int, queuedRequests: Int)
        case rejectedClosed
    }

    /// One forward pass: which sequence of which request goes where.
    package struct Batch: Sendable, Equatable {
        package struct Item: Sendable, Equatable {
            package var request: UInt64
            package var index: Int
            package var tokens: [Int32]
        }
        package var items: [Item]
        package var tokenCount: Int { items.reduce(0) { $0 + $1.tokens.count } }
    }

    private struct Pending: Sendable {
        var id: UInt64
        var priority: EmbeddingPriority
        var tenant: String
        var sequences: [[Int32]]
        var deadline: Instant
        /// True once nobody will read the answer (the client disconnected).
        var isAbandoned: @Sendable () -> Bool
        /// Index of the first sequence not yet handed to a batch.
        var next = 0
        var remainingTokens: Int
    }

    package var limits: Limits
    private var queue: [Pending] = []
    private var head = 0
    /// Results of requests split across batches, kept until their last sequence is done.
    private var partial: [UInt64: [[Float]?]] = [:]
    private var inFlight: [UInt64: Int] = [:]
    package private(set) var queuedTokens = 0
    /// Tokens waiting per tenant, for fair ordering and admission.
    private var waitingByTenant: [String: Int] = [:]
    package private(set) var isClosed = false

    package init(limits: Limits) { self.limits = limits }

    package var queuedRequests: Int { queue.count - head }
    /// True once closed and every admitted request has been answered.
    package var isDrained: Bool { isClosed && queuedRequests == 0 && inFlight.isEmpty }

    package mutating func enqueue(
        id: UInt64, sequences: [[Int32]], deadline: Instant, priority: EmbeddingPriority = .interactive, tenant: String = "",
        isAbandoned: @escaping @Sendable () -> Bool = { false }
    ) -> Admission {
        guard !isClosed else { return .rejectedClosed }
        let tokens = sequences.reduce(0) { $0 + $1.count }
        guard !refuses(tokens: tokens, priority: priority, tenant: tenant) else {
            return .rejectedQueueFull(queuedTokens: queuedTokens, queuedRequests: queuedRequests)
        }
        let waiting = priority == .interactive ? waitingByTenant[tenant, default: 0] : 0
        let pending = Pending(
            id: id, priority: priority, tenant: tenant, sequences: sequences, deadline: deadline, isAbandoned: isAbandoned,
            remainingTokens: tokens)
        // Ahead of every background request, even one already partly computed, and of every request of a
        // tenant with more waiting than this one's.
        let position = priority == .interactive ? interactivePosition(tenant: tenant, waiting: waiting) : queue.count
        queue.insert(pending, at: position)
        queuedTokens += tokens
        if priority == .interactive { waitingByTenant[tenant, default: 0] += tokens }
        partial[id] = Array(repeating: nil, count: sequences.count)
        return .admitted
    }

    /// Whether `enqueue` would refuse a request of `tokens` from `tenant` now: past the queue's
    /// bounds, unless the queue is empty (any request fits an empty queue), or it is the tenant's only
    /// API request (others' large requests cannot shut it out while the request count allows).
    package func refuses(tokens: Int, priority: EmbeddingPriority = .interactive, tenant: String) -> Bool {
        let withinBounds = queuedRequests < limits.maxQueuedRequests && queuedTokens + tokens <= limits.maxQueuedTokens
        let firstOfTenant =
            priority == .interactive && waitingByTenant[tenant, default: 0] == 0 && queuedRequests < limits.maxQueuedRequests
        return !(queuedRequests == 0 || withinBounds || firstOfTenant)
    }

    /// Where a new API request of `tenant`, which has `waiting` tokens waiting, goes: ahead of every
    /// background request, and of every request of a tenant with more waiting than this one's.
    private func interactivePosition(tenant: String, waiting: Int) -> Int {
        queue[head...].firstIndex {
            $0.priority == .background || ($0.tenant != tenant && waitingByTenant[$0.tenant, default: 0] > waiting)
        } ?? queue.count
    }

    /// The tokens computed before a new API request of `tenant` starts: those of the requests it
    /// would be queued behind (a tenant with nothing waiting goes ahead of every tenant that has).
    package func interactiveTokensAhead(of tenant: String) -> Int {
        let position = interactivePosition(tenant: tenant, waiting: waitingByTenant[tenant, default: 0])
        return queue[head..<position].reduce(0) { $0 + $1.remainingTokens }
    }

    /// Counts `tokens` of `request` as no longer waiting.
    private mutating func dequeued(_ tokens: Int, of request: Pending) {
        queuedTokens -= tokens
        // Background work has its own place behind every interactive request; it does not weigh on its tenant's turn.
        guard request.priority == .interactive else { return }
        let left = waitingByTenant[request.tenant, default: 0] - tokens
        waitingByTenant[request.tenant] = left > 0 ? left : nil
    }

    /// Stops admitting; what was admitted is still batched until drained.
    package mutating func close() { isClosed = true }

    /// Forgets a request whose caller went away. Returns whether it was still waiting (so it must be answered).
    package mutating func cancel(id: UInt64) -> Bool {
        guard partial.removeValue(forKey: id) != nil else { return false }
        if let index = queue[head...].firstIndex(where: { $0.id == id }) {
            dequeued(queue[index].remainingTokens, of: queue[index])
            queue.remove(at: index)
        }
        inFlight[id] = nil
        return true
    }

    /// The next batch to compute, of at most `tokenBudget` tokens beside the limits (one sequence
    /// at least), and the requests dropped unstarted because their deadline passed or their client
    /// went away.
    package mutating func nextBatch(now: Instant, tokenBudget: Int = .max) -> (batch: Batch?, expired: [UInt64], abandoned: [UInt64]) {
        let maxTokens = min(limits.maxBatchTokens, tokenBudget)
        var expired: [UInt64] = []
        var abandoned: [UInt64] = []
        var items: [Batch.Item] = []
        var tokens = 0
        var backgroundTokens = 0
        while head < queue.count {
            // Expiry applies to requests not started; a hang-up also stops the rest of a request split across batches.
            let isExpired = queue[head].next == 0 && queue[head].deadline <= now
            if isExpired || queue[head].isAbandoned() {
                if isExpired { expired.append(queue[head].id) } else { abandoned.append(queue[head].id) }
                dequeued(queue[head].remainingTokens, of: queue[head])
                partial[queue[head].id] = nil
                inFlight[queue[head].id] = nil
                head += 1
                continue
            }
            let sequence = queue[head].sequences[queue[head].next]
            let isBackground = queue[head].priority == .background
            // Background work never rides along with an interactive request: that pass stays as short as it can be.
            let fits =
                items.isEmpty
                || (tokens + sequence.count <= maxTokens && items.count < limits.maxBatchSequences
                    && (!isBackground || (backgroundTokens > 0 && backgroundTokens + sequence.count <= limits.maxBackgroundBatchTokens)))
            guard fits else { break }
            if isBackground { backgroundTokens += sequence.count }
            items.append(.init(request: queue[head].id, index: queue[head].next, tokens: sequence))
            tokens += sequence.count
            inFlight[queue[head].id, default: 0] += 1
            dequeued(sequence.count, of: queue[head])
            queue[head].remainingTokens -= sequence.count
            queue[head].next += 1
            if queue[head].next == queue[head].sequences.count { head += 1 }
        }
        compact()
        return (items.isEmpty ? nil : Batch(items: items), expired, abandoned)
    }

    /// Records a computed batch; returns the requests now complete, with their vectors in input order.
    package mutating func complete(_ batch: Batch, vectors: [[Float]]) -> [(id: UInt64, vectors: [[Float]])] {
        var finished: [(id: UInt64, vectors: [[Float]])] = []
        for (item, vector) in zip(batch.items, vectors) where partial[item.request] != nil {
            partial[item.request]![item.index] = vector
            inFlight[item.request, default: 1] -= 1
            if inFlight[item.request] == 0, let results = partial[item.request], results.allSatisfy({ $0 != nil }) {
                finished.append((item.request, results.map { $0! }))
                partial[item.request] = nil
                inFlight[item.request] = nil
            }
        }
        return finished
    }

    /// Records a batch that failed; returns every request it touched that is still waiting for an answer.
    package mutating func fail(_ batch: Batch) -> [UInt64] {
        var failed: [UInt64] = []
        for id in Set(batch.items.map(\.request)) where cancel(id: id) { failed.append(id) }
        return failed
    }

    private mutating func compact() {
        if head > 64 && head * 2 > queue.count {
            queue.removeFirst(head)
            head = 0
        }
    }
}
