import ConduitChat
import ConduitCore
import ConduitEmbeddings
import Foundation
import Store
import Synchronization

/// Runs a conversation through its pipeline: prefilter → exact cache → semantic cache → analyzer →
/// insight stored with its event. One job per conversation (`POST /v1/conversations` makes them).
///
/// A job may run again after a crash: the conversation's status and its one insight are the ledger,
/// so a second run stores and announces nothing new.
package struct InsightJobWorker: JobWorker {
    static let kind = "insights"
    /// The queue conversations' jobs go to (`jobs.queues` sets how many run at once).
    package static let queue = "insights"
    package var kind: String { Self.kind }

    package let store: Database
    package let pipelines: Live<PipelineLibrary>
    package let embedder: TextEmbedder
    /// The classifiers pipelines' examples fit, shared by the node's jobs.
    package let classifiers = ExampleClassifiers.shared
    /// Where `llm:` pipelines' models are called: the node's chat gateway.
    package let gateway: ChatGateway
    package let meter: UsageMeter
    package let metrics: InsightMetrics

    package struct Input: Codable {
        package var conversationID: String
        package enum CodingKeys: String, CodingKey { case conversationID = "conversation_id" }
    }

    package struct Result: Encodable {
        package var conversationID: String
        package var status: ConversationStatus
        package var insightID: String?
        package var source: String?
        package var reason: String?
    }

    package static func input(conversationID: String) -> String {
        String(decoding: try! JSONEncoder().encode(Input(conversationID: conversationID)), as: UTF8.self)
    }

    package func run(_ job: Job, progress: JobProgress) async throws -> JobOutcome {
        let id = try JSONDecoder().decode(Input.self, from: Data(job.input.utf8)).conversationID
        guard let conversation = try await store.conversations.find(id, teamID: job.teamID) else {
            throw StoreError.notFound("conversation \(id)")
        }
        switch conversation.status {
        case .pending, .failed: break
        case .skipped:
            return try outcome(Result(conversationID: id, status: .skipped, reason: conversation.reason))
        case .analyzed:
            let insight = try await store.insights.find(ofConversation: id, teamID: job.teamID)
            return try outcome(Result(conversationID: id, status: .analyzed, insightID: insight?.id, source: insight?.source))
        }
        do {
            return try await analyze(conversation, job: job)
        } catch {
            // The job will not run again by itself: the conversation says so, and why.
            if job.attempt >= job.maxAttempts {
                let reason = "\(error)"
                try? await store.conversations.close(
                    id, as: .failed, reason: reason,
                    event: Self.event(
                        InsightEvents.ConversationFailed(conversationID: id, pipeline: conversation.pipeline, reason: reason)))
            }
            throw error
        }
    }

    private func analyze(_ conversation: Conversation, job: Job) async throws -> JobOutcome {
        // A pipeline removed by a reload fails the attempt; the job is retried, in case it comes back.
        guard let pipeline = pipelines.read({ $0[conversation.pipeline] }) else {
            throw StoreError.notFound("pipeline '\(conversation.pipeline)' (insights.pipelines_dir)")
        }
        let messages = try JSONDecoder().decode([ConversationText.Message].self, from: Data(conversation.messages.utf8))
        let text = ConversationText(messages, roles: pipeline.roles)

        if case .skip(let reason, let detail) = pipeline.prefilter.verdict(on: text.plain) {
            return try await skip(conversation, pipeline: pipeline, reason: reason, detail: detail)
        }

        let hash = text.contentHash(pipeline: pipeline.name, version: pipeline.version)
        if pipeline.cache.exact, let cached = try await store.insights.find(withContentHash: hash, teamID: job.teamID) {
            metrics.cacheHit(pipeline: pipeline.name, kind: "exact")
            var analysis = try JSONDecoder().decode(Analysis.self, from: Data(cached.analysis.utf8))
            analysis.reused(from: cached.id, similarity: nil, tokens: 0)
            return try await store(
                analysis, source: "exact_cache", embedding: cached.embedding, model: cached.embeddingModel, hash: hash, for: conversation,
                job: job, pipeline: pipeline)
        }

        // One model for the whole job, even if a reload swaps it meanwhile.
        let served = try embedder.catalog.resolve(nil)
        let local = LocalAnalyzer(embedder: embedder, served: served, classifiers: classifiers)
        let embedded = try await embedder.embed(text, with: served)
        // Mostly words the embedding model cannot read (a script its vocabulary lacks, emoji): its vector
        // says little and is alike for all such texts, so neither the semantic cache nor the local analyzer
        // can use it. An LLM may still read it.
        let readable = embedded.unknownShare <= Self.maximumUnknownShare
        if !readable, pipeline.analyzer == .local {
            let detail = "\(Int((embedded.unknownShare * 100).rounded())) % of its words are unknown to the embedding model"
            return try await skip(conversation, pipeline: pipeline, reason: "unreadable", detail: detail)
        }
        if readable, let threshold = pipeline.cache.semanticThreshold,
            let (cachedID, similarity) = try await mostSimilar(to: embedded, teamID: job.teamID, pipeline: pipeline),
            similarity >= threshold, let cached = try await store.insights.find(cachedID, teamID: job.teamID)
        {
            metrics.cacheHit(pipeline: pipeline.name, kind: "semantic")
            var analysis = try JSONDecoder().decode(Analysis.self, from: Data(cached.analysis.utf8))
            // The labels of the similar conversation, the words of this one.
            let (keyPhrases, summary, tokens) = try await local.extract(text, embedded: embedded, pipeline: pipeline)
            analysis.reused(from: cached.id, similarity: similarity, tokens: embedded.tokens + tokens)
            analysis.keyPhrases = keyPhrases
            analysis.summary = summary
            return try await store(
                analysis, source: "semantic_cache", embedding: Float32LE.bytes(embedded.vector), model: served.name, hash: hash,
                for: conversation, job: job, pipeline: pipeline)
        }

        let analyzer = pipeline.analyzer.description
        let started = ContinuousClock.now
        let tally = UsageTally()
        let analysis: Analysis
        do {
            analysis = try await PipelineAnalyzer(local: local, gateway: gateway).analyze(text, embedded: embedded, pipeline: pipeline) {
                account(
                    $0.usage, costUSD: $0.costUSD ?? priced($0.usage, of: $0.model), analyzer: $0.analyzer, model: $0.model, job: job,
                    since: started, into: tally)
            }
            metrics.analyzed(analyzer: analyzer, outcome: "success", since: started)
        } catch {
            metrics.analyzed(analyzer: analyzer, outcome: "error", since: started)
            throw error
        }
        if analysis.uncertain == true { metrics.uncertain(pipeline: pipeline.name) }
        if let fallback = analysis.fallbackFrom { metrics.fellBack(pipeline: pipeline.name, from: fallback.analyzer) }
        return try await store(
            analysis, source: "analyzer", embedding: Float32LE.bytes(embedded.vector), model: served.name, hash: hash, for: conversation,
            job: job, pipeline: pipeline, usage: tally.events)
    }

    /// Above this share of unknown tokens a text is unreadable to the embedding model.
    package static let maximumUnknownShare = 0.5

    private func skip(_ conversation: Conversation, pipeline: PipelineDefinition, reason: String, detail: String) async throws -> JobOutcome
    {
        metrics.skipped(pipeline: pipeline.name, reason: reason)
        try await store.conversations.close(
            conversation.id, as: .skipped, reason: reason,
            event: Self.event(
                InsightEvents.ConversationSkipped(conversationID: conversation.id, pipeline: pipeline.name, reason: reason, detail: detail))
        )
        return try outcome(Result(conversationID: conversation.id, status: .skipped, reason: reason))
    }

    /// Counts tokens a model spent for the job's team, at `costUSD`, in the metrics, and keeps their usage
    /// event to bill with the insight: an attempt that stores none (it failed, or its node was killed) bills nothing.
    private func account(
        _ usage: Analysis.Usage, costUSD: Double?, analyzer: String, model: String, job: Job, since started: ContinuousClock.Instant,
        into tally: UsageTally
    ) {
        metrics.used(analyzer: analyzer, usage: usage, costUSD: costUSD)
        meter.computed(model: model, tokens: usage.total)
        tally.add(
            meter.event(teamID: job.teamID, model: model, route: "/v1/conversations", tokens: usage.total, costUSD: costUSD, since: started)
        )
    }

    /// The cost of tokens of the local model at `usage.prices`, when it is priced there.
    private func priced(_ usage: Analysis.Usage, of model: String) -> Double? {
        meter.price(of: model).map { usage.cost(perMillionTokens: $0) }
    }

    /// The usage events of one attempt, gathered from the analyzer's calls.
    private final class UsageTally: Sendable {
        private let gathered = Mutex<[UsageEvent]>([])
        func add(_ event: UsageEvent) { gathered.withLock { $0.append(event) } }
        var events: [UsageEvent] { gathered.withLock { $0 } }
    }

    /// The team's recent analysis by this pipeline version and model closest to the conversation, with its similarity.
    private func mostSimilar(to embedded: EmbeddedConversation, teamID: String, pipeline: PipelineDefinition) async throws -> (
        String, Double
    )? {
        let recent = try await store.insights.recentEmbeddings(
            teamID: teamID, pipeline: pipeline.name, version: pipeline.version, model: embedded.model, limit: pipeline.cache.semanticWindow)
        var best: (String, Double)?
        for (id, bytes) in recent {
            let other = Float32LE.floats(bytes)
            guard other.count == embedded.vector.count else { continue }
            let similarity = Double(cosineSimilarity(embedded.vector, other))
            if similarity > best?.1 ?? -2 { best = (id, similarity) }
        }
        return best
    }

    private func store(
        _ analysis: Analysis, source: String, embedding: Data?, model: String?, hash: String, for conversation: Conversation, job: Job,
        pipeline: PipelineDefinition, usage: [UsageEvent] = []
    ) async throws -> JobOutcome {
        let new = NewInsight(
            conversationID: conversation.id, jobID: job.id, pipeline: pipeline.name, pipelineVersion: pipeline.version, contentHash: hash,
            source: source, analysis: String(decoding: try JSONEncoder().encode(analysis), as: UTF8.self), embedding: embedding,
            embeddingModel: model, labels: analysis.labels)
        let payload: @Sendable (String) -> NewEvent = { insightID in
            Self.event(
                InsightEvents.InsightCreated(
                    insightID: insightID, conversationID: conversation.id, pipeline: pipeline.name, source: source, labels: analysis.labels)
            )
        }
        let (insight, created) = try await store.insights.store(new, teamID: job.teamID, event: payload, usage: usage)
        if created { metrics.stored(pipeline: pipeline.name, source: source) }
        return try outcome(Result(conversationID: conversation.id, status: .analyzed, insightID: insight.id, source: insight.source))
    }

    /// An event of this job's: its webhook deliveries continue the job's trace.
    private static func event(_ payload: some EventPayload) -> NewEvent {
        NewEvent(payload, traceContext: TraceContextCarrier.current())
    }

    private func outcome(_ result: Result) throws -> JobOutcome {
        try JobOutcome(encoding: result)
    }
}

extension Analysis {
    /// Marks an analysis copied from a cache: the insight that was analysed (a copy of a copy names the
    /// original), how similar the conversation was, and the tokens spent finding it.
    package mutating func reused(from insightID: String, similarity: Double?, tokens: Int) {
        cachedFrom = cachedFrom ?? insightID
        self.similarity = similarity.map { ($0 * 10_000).rounded() / 10_000 }
        usage = .init(promptTokens: tokens, completionTokens: 0)
        costUSD = nil
    }
}
