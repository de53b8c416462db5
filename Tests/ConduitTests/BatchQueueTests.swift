import Testing

@testable import Conduit
@testable import ConduitEmbeddings

/// The batching decisions, with integer instants and no threads.
@Suite("Batch queue")
struct BatchQueueTests {
    typealias Queue = BatchQueue<Int>
    let limits = Queue.Limits(maxBatchTokens: 10, maxBatchSequences: 3, maxQueuedTokens: 20, maxQueuedRequests: 3)

    private func tokens(_ count: Int) -> [Int32] { Array(repeating: 7, count: count) }

    @Test("a batch is formed at once from whatever waits, within the token and sequence budgets")
    func budgets() {
        var queue = Queue(limits: limits)
        let firstAdmitted = queue.enqueue(id: 1, sequences: [tokens(4), tokens(4)], deadline: 100)
        #expect(firstAdmitted == .admitted)
        let secondAdmitted = queue.enqueue(id: 2, sequences: [tokens(4)], deadline: 100)
        #expect(secondAdmitted == .admitted)
        let first = queue.nextBatch(now: 0).batch!
        #expect(first.items.map(\.request) == [1, 1])  // 4 + 4 fits, + 4 would exceed 10
        #expect(first.tokenCount == 8)
        let second = queue.nextBatch(now: 0).batch!
        #expect(second.items.map(\.request) == [2])
        let none = queue.nextBatch(now: 0).batch
        #expect(none == nil)

        var wide = Queue(limits: limits)
        for id in 1...3 { _ = wide.enqueue(id: UInt64(id), sequences: [tokens(1), tokens(1)], deadline: 100) }
        let wideBatch = wide.nextBatch(now: 0).batch!
        #expect(wideBatch.items.count == 3)  // sequence budget
    }

    @Test("the tokens a new API request would start after are those queued ahead of where it would go, not every tenant's")
    func tokensAhead() {
        var queue = Queue(limits: .init(maxBatchTokens: 10, maxBatchSequences: 3, maxQueuedTokens: 100_000, maxQueuedRequests: 100))
        for (id, tenant) in ["b", "c", "d"].enumerated() {
            _ = queue.enqueue(id: UInt64(id + 1), sequences: [tokens(2000)], deadline: 100, tenant: tenant)
        }
        _ = queue.enqueue(id: 4, sequences: [tokens(300)], deadline: 100, tenant: "a")
        _ = queue.enqueue(id: 5, sequences: [tokens(50)], deadline: 100, priority: .background, tenant: "a")
        // a's 300 went ahead of the heavy tenants: a's next request waits for those 300 only.
        #expect(queue.interactiveTokensAhead(of: "a") == 300)
        // A tenant with nothing waiting goes first; a heavy one waits for the lighter ones and its equals.
        #expect(queue.interactiveTokensAhead(of: "e") == 0)
        #expect(queue.interactiveTokensAhead(of: "d") == 6300)
    }

    @Test(
        "between tenants the model is shared fairly: a small request goes ahead of another tenant's large one, even one under way, and a tenant with nothing waiting is admitted when another filled the token bound"
    )
    func fairBetweenTenants() {
        var queue = Queue(limits: limits)
        // Tenant a fills the token bound with one request of 20 tokens, already started.
        #expect(queue.enqueue(id: 1, sequences: (0..<5).map { _ in tokens(4) }, deadline: 100, tenant: "a") == .admitted)
        #expect(queue.nextBatch(now: 0).batch!.items.map(\.request) == [1, 1])
        #expect(queue.enqueue(id: 2, sequences: [tokens(4), tokens(4)], deadline: 100, tenant: "a") == .admitted)
        // Full for a: 20 tokens wait.
        #expect(queue.enqueue(id: 3, sequences: [tokens(4)], deadline: 100, tenant: "a") != .admitted)
        // b has nothing waiting: admitted, and served next.
        #expect(queue.enqueue(id: 4, sequences: [tokens(2)], deadline: 100, tenant: "b") == .admitted)
        #expect(queue.nextBatch(now: 0).batch!.items.map(\.request) == [4, 1, 1])
        // b's second request waits behind nobody with less waiting than b: ahead of a's second, behind a's first.
        #expect(queue.enqueue(id: 5, sequences: [tokens(1)], deadline: 100, tenant: "b") == .admitted)
        #expect(queue.nextBatch(now: 0).batch!.items.map(\.request) == [5, 1, 2])
        // One tenant alone (authentication off: every request is tenant "") keeps arrival order.
        var alone = Queue(limits: limits)
        for id in 1...3 { _ = alone.enqueue(id: UInt64(id), sequences: [tokens(3)], deadline: 100) }
        #expect(alone.nextBatch(now: 0).batch!.items.map(\.request) == [1, 2, 3])
    }

    @Test("a sequence larger than the budget still runs, alone")
    func oversizedSequence() {
        var queue = Queue(limits: limits)
        _ = queue.enqueue(id: 1, sequences: [tokens(15), tokens(1)], deadline: 100)
        let alone = queue.nextBatch(now: 0).batch!
        let next = queue.nextBatch(now: 0).batch!
        #expect(alone.tokenCount == 15 && next.tokenCount == 1)
    }

    @Test("admission is bounded by queued tokens and requests, but an empty queue takes any request")
    func admissionBound() {
        var queue = Queue(limits: limits)
        let big = queue.enqueue(id: 1, sequences: [tokens(50)], deadline: 100)
        #expect(big == .admitted)
        let behindBig = queue.enqueue(id: 2, sequences: [tokens(1)], deadline: 100)
        #expect(behindBig == .rejectedQueueFull(queuedTokens: 50, queuedRequests: 1))
        _ = queue.nextBatch(now: 0)
        #expect(queue.queuedTokens == 0)
        for id in 3...5 {
            let admission = queue.enqueue(id: UInt64(id), sequences: [tokens(1)], deadline: 100)
            #expect(admission == .admitted)
        }
        let overflow = queue.enqueue(id: 6, sequences: [tokens(1)], deadline: 100)
        #expect(overflow == .rejectedQueueFull(queuedTokens: 3, queuedRequests: 3))
    }

    @Test("results of a request split across batches are delivered together, in input order")
    func splitRequest() {
        var queue = Queue(limits: limits)
        _ = queue.enqueue(id: 1, sequences: [tokens(6), tokens(6)], deadline: 100)
        let first = queue.nextBatch(now: 0).batch!
        let second = queue.nextBatch(now: 0).batch!
        let notYet = queue.complete(second, vectors: [[2]])
        #expect(notYet.isEmpty)
        let done = queue.complete(first, vectors: [[1]])
        #expect(done.count == 1 && done[0].vectors == [[1], [2]])
    }

    @Test("expired and abandoned requests are dropped before any work is spent on them")
    func dropsBeforeCompute() {
        var queue = Queue(limits: limits)
        _ = queue.enqueue(id: 1, sequences: [tokens(2)], deadline: 5)
        _ = queue.enqueue(id: 2, sequences: [tokens(2)], deadline: 100, isAbandoned: { true })
        _ = queue.enqueue(id: 3, sequences: [tokens(2)], deadline: 100)
        let (batch, expired, abandoned) = queue.nextBatch(now: 10)
        #expect(expired == [1])
        #expect(abandoned == [2])
        #expect(batch!.items.map(\.request) == [3])
        #expect(queue.queuedTokens == 0)
    }

    @Test("a cancelled request leaves the queue; its in-flight results are ignored")
    func cancel() {
        var queue = Queue(limits: limits)
        _ = queue.enqueue(id: 1, sequences: [tokens(6), tokens(6)], deadline: 100)
        _ = queue.enqueue(id: 2, sequences: [tokens(2)], deadline: 100)
        let first = queue.nextBatch(now: 0).batch!
        let wasWaiting = queue.cancel(id: 1)
        #expect(wasWaiting)
        let again = queue.cancel(id: 1)
        #expect(!again)
        let ignored = queue.complete(first, vectors: [[1]])
        #expect(ignored.isEmpty)
        let remaining = queue.nextBatch(now: 0).batch!
        #expect(remaining.items.map(\.request) == [2])
    }

    @Test("closing refuses new work but drains what was admitted")
    func closeAndDrain() {
        var queue = Queue(limits: limits)
        _ = queue.enqueue(id: 1, sequences: [tokens(2)], deadline: 100)
        queue.close()
        let afterClose = queue.enqueue(id: 2, sequences: [tokens(2)], deadline: 100)
        #expect(afterClose == .rejectedClosed)
        #expect(!queue.isDrained)
        let batch = queue.nextBatch(now: 0).batch!
        #expect(!queue.isDrained)
        let finished = queue.complete(batch, vectors: [[0]])
        #expect(finished.count == 1)
        #expect(queue.isDrained)
    }

    @Test("a failed batch fails every request it touched, once")
    func failure() {
        var queue = Queue(limits: limits)
        _ = queue.enqueue(id: 1, sequences: [tokens(2), tokens(2)], deadline: 100)
        _ = queue.enqueue(id: 2, sequences: [tokens(2)], deadline: 100)
        let batch = queue.nextBatch(now: 0).batch!
        let failed = queue.fail(batch)
        #expect(Set(failed) == [1, 2])
        let none = queue.nextBatch(now: 0).batch
        #expect(none == nil)
    }

    @Test("a client that hangs up mid-request stops the rest of its split request")
    func abandonedMidway() {
        final class Flag: @unchecked Sendable { var gone = false }  // set and read on this test's thread only
        let flag = Flag()
        var queue = Queue(limits: limits)
        _ = queue.enqueue(id: 1, sequences: [tokens(8), tokens(8), tokens(8)], deadline: 100, isAbandoned: { flag.gone })
        let first = queue.nextBatch(now: 0).batch!
        flag.gone = true
        let (batch, _, abandoned) = queue.nextBatch(now: 0)
        #expect(batch == nil && abandoned == [1])
        #expect(queue.queuedTokens == 0)
        let late = queue.complete(first, vectors: [[1]])
        #expect(late.isEmpty)
    }

    @Test("an interactive request goes ahead of background ones, even one partly batched; background work runs in small passes of its own")
    func priorities() {
        var queue = Queue(limits: limits)
        _ = queue.enqueue(id: 1, sequences: [tokens(4), tokens(4), tokens(4)], deadline: 100, priority: .background)
        _ = queue.enqueue(id: 2, sequences: [tokens(4)], deadline: 100, priority: .background)
        #expect(queue.nextBatch(now: 0).batch!.items.map(\.request) == [1, 1])
        _ = queue.enqueue(id: 3, sequences: [tokens(2)], deadline: 100)
        #expect(queue.nextBatch(now: 0).batch!.items.map(\.request) == [3], "alone: background work never rides along")
        let rest = queue.nextBatch(now: 0).batch!
        #expect(rest.items.map(\.request) == [1, 2] && rest.items.map(\.index) == [2, 0])

        // Background work alone runs in small passes.
        var small = Queue(
            limits: .init(maxBatchTokens: 10, maxBatchSequences: 3, maxQueuedTokens: 20, maxQueuedRequests: 3, maxBackgroundBatchTokens: 4))
        _ = small.enqueue(id: 1, sequences: [tokens(3), tokens(3)], deadline: 100, priority: .background)
        _ = small.enqueue(id: 2, sequences: [tokens(3)], deadline: 100)
        #expect(small.nextBatch(now: 0).batch!.items.map(\.request) == [2])
        #expect(small.nextBatch(now: 0).batch!.items.map(\.request) == [1], "3 tokens, and 3 more would pass the 4 allowed")
        #expect(small.nextBatch(now: 0).batch!.items.map(\.request) == [1])
    }
}

@Suite("Tokens per byte")
struct TokensPerByteTests {
    @Test("the bound is 1 token before any request, then the fewest tokens per byte of the last 64 requests")
    func fewestOfRecent() {
        var ratios = TokensPerByte()
        #expect(ratios.fewestTokens(inBytes: 10_000) == 1)
        ratios.record(tokens: 200, bytes: 1_000)
        ratios.record(tokens: 100, bytes: 1_000)
        ratios.record(tokens: 0, bytes: 1_000)  // nothing to learn from
        #expect(ratios.fewestTokens(inBytes: 10_000) == 1_000)
        #expect(ratios.fewestTokens(inBytes: 5) == 1)
        for _ in 0..<(TokensPerByte.remembered - 1) { ratios.record(tokens: 300, bytes: 1_000) }
        #expect(ratios.fewestTokens(inBytes: 10_000) == 1_000, "the second request is the oldest remembered")
        ratios.record(tokens: 300, bytes: 1_000)
        #expect(ratios.fewestTokens(inBytes: 10_000) == 3_000, "and now forgotten")
    }

    @Test("a body denser than text of three-byte characters counts as that dense: dense bodies cannot make others' look larger")
    func densestCounted() {
        var ratios = TokensPerByte()
        ratios.record(tokens: 990, bytes: 1_000)  // a thousand full stops
        #expect(ratios.fewestTokens(inBytes: 10_000) == Int(TokensPerByte.densest * 10_000))
    }
}
