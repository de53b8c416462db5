import ConduitChat
import ConduitCore
import ConduitEmbeddings
import Hummingbird

/// `POST /v1/insights/evaluate` (admin): a pipeline's analyzer measured on labelled conversations, as
/// `conduit insights evaluate` measures it, on this node's model, pipelines and chat models; nothing is
/// stored. The body is `{"pipeline": "support", "conversations": [{"messages": [...], "sentiment": ..., "topic": ...}]}`.
/// It counts against the caller's limits as conversations do, and what its models spend is billed to the
/// caller's team on the usage report.
struct EvaluationController {
    let teams: TeamScope
    let limits: Live<APILimits>
    let rateLimiter: RateLimiter?
    let meter: UsageMeter
    let pipelines: Live<PipelineLibrary>
    let embedder: TextEmbedder
    let classifiers: ExampleClassifiers
    let gateway: ChatGateway

    /// Most conversations measured in one request: they are analysed while the request waits.
    static let maximumConversations = 2000

    func addRoutes(to routes: some RouterMethods<ConduitRequestContext>) {
        routes.post("/v1/insights/evaluate") { request, context in try await evaluate(request, context: context) }
    }

    private static let route = "/v1/insights/evaluate"

    private func evaluate(_ request: Request, context: ConduitRequestContext) async throws -> Response {
        let body = try await request.parseJSONObject(limit: limits.read(\.maxBodyBytes))
        guard let name = (body["pipeline"] ?? .string("default")).stringValue, let pipeline = pipelines.read({ $0[name] }) else {
            throw InvalidInput(
                "pipeline must be one of \(pipelines.current.pipelines.keys.sorted().joined(separator: ", "))", param: "pipeline",
                code: "unknown_pipeline")
        }
        guard let list = body["conversations"]?.arrayValue, (1...Self.maximumConversations).contains(list.count) else {
            throw InvalidInput(
                "conversations must be a list of 1 to \(Self.maximumConversations) labelled conversations", param: "conversations",
                code: "invalid_value")
        }
        var conversations: [LabelledConversation] = []
        for (index, item) in list.enumerated() {
            let at = "conversations[\(index)]"
            do {
                var conversation = try LabelledConversation(item, at: at)
                conversation.id = conversation.id ?? at
                try conversation.check(against: pipeline, at: at)
                conversations.append(conversation)
            } catch {
                throw InvalidInput(error.description, param: at, code: "invalid_value")
            }
        }
        let estimatedTokens = max(1, conversations.reduce(0) { $0 + $1.messages.reduce(0) { $0 + $1.content.utf8.count } } / 4)
        _ = try await rateLimiter?.admit(context.identity, tokens: estimatedTokens)
        let teamID = try await teams.teamID(context)
        let keyID = context.identity?.keyID
        let started = ContinuousClock.now
        // One model for the whole evaluation, even if a reload swaps it meanwhile.
        let served = try embedder.catalog.resolve(nil)
        let meter = self.meter
        let evaluator = InsightsEvaluator(
            analyzer: PipelineAnalyzer(
                local: LocalAnalyzer(embedder: embedder, served: served, classifiers: classifiers), gateway: gateway),
            price: meter.price
        ) { spent in
            meter.record(
                teamID: teamID, keyID: keyID, model: spent.model, route: Self.route, tokens: spent.usage.total, costUSD: spent.costUSD,
                since: started)
        }
        return try json(try await evaluator.evaluate(conversations, pipeline: pipeline))
    }
}
