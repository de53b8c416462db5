import ConduitEmbeddings
import Foundation
import Synchronization

/// Runs a pipeline's analyzer over labelled conversations without storing anything, and measures it
/// (`conduit insights evaluate`, `POST /v1/insights/evaluate`). Each conversation is analysed as a job
/// analyses it, minus the prefilter and the caches: what is measured is the analyzer.
package struct InsightsEvaluator: Sendable {
    package let analyzer: PipelineAnalyzer
    /// A model's price per million tokens, where it has one (`usage.prices`; the gateway prices its own calls).
    package let price: @Sendable (String) -> Double?
    /// Told of every model's tokens as they are spent, priced: the API bills them to the caller's team.
    package let spent: @Sendable (PipelineAnalyzer.Spending) -> Void

    /// Conversations analysed at once: enough for the scheduler to batch their sentences.
    package static let concurrency = 8

    package init(
        analyzer: PipelineAnalyzer, price: @escaping @Sendable (String) -> Double?,
        spent: @escaping @Sendable (PipelineAnalyzer.Spending) -> Void = { _ in }
    ) {
        self.analyzer = analyzer
        self.price = price
        self.spent = spent
    }

    /// `done` is told how many conversations are analysed so far, as they are.
    package func evaluate(
        _ conversations: [LabelledConversation], pipeline: PipelineDefinition, done: @escaping @Sendable (Int) -> Void = { _ in }
    ) async throws -> InsightsEvaluation {
        let local = analyzer.local
        // Fitted before the clock starts: a fit is once per pipeline, not per conversation.
        let fitted =
            pipeline.analyzer == .local
            ? try await local.classifiers.classifiers(for: pipeline, embedder: local.embedder, served: local.served) : nil
        let spending = SpendingByModel()
        let collected = Collected()
        await withTaskGroup(of: Void.self) { group in
            for index in conversations.indices {
                if index >= Self.concurrency { await group.next() }
                let conversation = conversations[index]
                group.addTask {
                    let outcome: Result<Outcome, any Error>
                    do { outcome = .success(try await analyze(conversation, pipeline: pipeline, spending: spending)) } catch {
                        outcome = .failure(error)
                    }
                    done(collected.add(outcome, at: index))
                }
            }
        }
        let outcomes = collected.inOrder(count: conversations.count)
        var report = InsightsEvaluation(
            pipeline: pipeline.name, analyzer: pipeline.analyzer.description, conversations: conversations, outcomes: outcomes)
        report.usage = spending.byModel.withLock { Array($0.values) }.sorted { $0.model < $1.model }
        let priced = report.usage.compactMap(\.costUSD)
        report.costUSD = priced.isEmpty ? nil : priced.reduce(0, +)
        if let fitted {
            report.fit = .init(
                examples: fitted.examples, embeddingMilliseconds: fitted.embedding.milliseconds,
                fittingMilliseconds: fitted.fitting.milliseconds)
            report.classificationMilliseconds = outcomes.compactMap { try? $0.get().classification.milliseconds }.mean
        }
        return report
    }

    /// What the analyzer said of one conversation, and how long its classification (its labels from the
    /// vectors, the embedding aside) took.
    package struct Outcome: Sendable {
        package var analysis: Analysis
        package var classification: Duration
    }

    private func analyze(
        _ conversation: LabelledConversation, pipeline: PipelineDefinition, spending: SpendingByModel
    ) async throws -> Outcome {
        let local = analyzer.local
        let text = ConversationText(conversation.messages, roles: pipeline.roles)
        let embedded = try await local.embedder.embed(text, with: local.served)
        let clock = ContinuousClock()
        let classification =
            pipeline.analyzer == .local ? try await clock.measure { _ = try await local.classify(embedded, pipeline: pipeline) } : .zero
        let analysis = try await analyzer.analyze(text, embedded: embedded, pipeline: pipeline) { spent in
            var priced = spent
            priced.costUSD = spent.costUSD ?? price(spent.model).map { spent.usage.cost(perMillionTokens: $0) }
            self.spent(priced)
            spending.byModel.withLock { spending in
                var usage =
                    spending[spent.model]
                    ?? InsightsEvaluation.ModelUsage(model: spent.model, promptTokens: 0, completionTokens: 0, costUSD: nil)
                usage.promptTokens += spent.usage.promptTokens
                usage.completionTokens += spent.usage.completionTokens
                if let cost = priced.costUSD {
                    usage.costUSD = (usage.costUSD ?? 0) + cost
                }
                spending[spent.model] = usage
            }
        }
        return Outcome(analysis: analysis, classification: classification)
    }
}

/// The conversations' outcomes, as their analyses finish.
private final class Collected: Sendable {
    private let outcomes = Mutex<[Int: Result<InsightsEvaluator.Outcome, any Error>]>([:])

    /// Keeps an outcome and says how many there are now.
    func add(_ outcome: Result<InsightsEvaluator.Outcome, any Error>, at index: Int) -> Int {
        outcomes.withLock {
            $0[index] = outcome
            return $0.count
        }
    }

    func inOrder(count: Int) -> [Result<InsightsEvaluator.Outcome, any Error>] {
        outcomes.withLock { outcomes in (0..<count).map { outcomes[$0]! } }
    }
}

/// Tokens and cost by model, as the analyses spend them.
private final class SpendingByModel: Sendable {
    let byModel = Mutex<[String: InsightsEvaluation.ModelUsage]>([:])
}

extension Duration {
    package var milliseconds: Double { Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15 }
}

extension [Double] {
    fileprivate var mean: Double? { isEmpty ? nil : reduce(0, +) / Double(count) }
}
