import ConduitChat
import ConduitEmbeddings

/// Runs a pipeline's analyzer on an embedded conversation: the local one, an LLM, or the local one with
/// an LLM for the conversations it is uncertain of (`llm_fallback`), so that a team pays for an LLM only
/// there. What each model spends is told to `spent` as it is spent, so that it is counted even when the
/// analysis then fails. Jobs and `conduit insights evaluate` both analyse through it.
package struct PipelineAnalyzer: Sendable {
    package let local: LocalAnalyzer
    package let gateway: ChatGateway

    package init(local: LocalAnalyzer, gateway: ChatGateway) {
        self.local = local
        self.gateway = gateway
    }

    /// Tokens a model spent for an analysis; `costUSD` is nil where the caller prices them (the local model).
    package struct Spending: Sendable {
        package var analyzer: String
        package var model: String
        package var usage: Analysis.Usage
        package var costUSD: Double?
    }

    package func analyze(
        _ text: ConversationText, embedded: EmbeddedConversation, pipeline: PipelineDefinition, spent: (Spending) -> Void
    ) async throws -> Analysis {
        switch pipeline.analyzer {
        case .llm(let model):
            let embedding = Analysis.Usage(promptTokens: embedded.tokens, completionTokens: 0)
            spent(Spending(analyzer: pipeline.analyzer.description, model: local.served.name, usage: embedding))
            return try await llm(model, text, pipeline: pipeline, spent: spent)
        case .local:
            let analysis = try await local.analyze(text, embedded: embedded, pipeline: pipeline)
            spent(Spending(analyzer: "local", model: local.served.name, usage: analysis.usage))
            guard analysis.uncertain == true, let model = pipeline.llmFallback else { return analysis }
            var escalated: Analysis
            do {
                escalated = try await llm(model, text, pipeline: pipeline, spent: spent)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                // The model could not answer (a breaker open, answers that stayed invalid): the local analysis
                // stands, marked uncertain, rather than the conversation failing for want of a second opinion.
                return analysis
            }
            escalated.fallbackFrom = .init(
                analyzer: analysis.analyzer, sentiment: analysis.sentiment.label, topics: analysis.topics.map(\.label),
                confidence: analysis.confidence)
            return escalated
        }
    }

    private func llm(_ model: String, _ text: ConversationText, pipeline: PipelineDefinition, spent: (Spending) -> Void) async throws
        -> Analysis
    {
        try await LLMAnalyzer(gateway: gateway, model: model).analyze(text, pipeline: pipeline) { call, cost in
            spent(Spending(analyzer: "llm:\(model)", model: model, usage: call, costUSD: cost))
        }
    }
}
