import ConduitCore
import Foundation
import Hummingbird
import Store

/// The gateway to model providers: `POST /v1/chat/completions` for the chat models of `chat.models_file`,
/// and its embedding models at `POST /v1/embeddings`, each call sent to one of the model's deployments
/// with retries, fallbacks and a circuit per deployment.
package struct ChatFeature: ConduitFeature {
    let configuration: Live<ChatConfiguration>
    let controller: ChatCompletionsController
    let limits: Live<APILimits>
    /// Where the node serves no embedding model of its own, the route is the gateway's alone; elsewhere the
    /// embeddings feature owns it and hands the gateway's models over.
    let ownsEmbeddingsRoute: GatewayEmbeddings?
    /// When the node started: what `/v1/models` says the gateway's models were created.
    let started = Int(Date().timeIntervalSince1970)

    /// `gateway` is the node's, shared with the features that call models themselves; its owner runs its
    /// deployments' service.
    package init(
        gateway: ChatGateway, limits: Live<APILimits>, store: Database?, rateLimiter: RateLimiter?, meter: UsageMeter,
        ownsEmbeddingsRoute: GatewayEmbeddings?
    ) {
        configuration = gateway.configuration
        self.limits = limits
        self.ownsEmbeddingsRoute = ownsEmbeddingsRoute
        controller = ChatCompletionsController(
            gateway: gateway, limits: limits, rateLimiter: rateLimiter, meter: meter, cache: store.map(ExactCache.init),
            semanticCache: store.flatMap { store in gateway.local.map { SemanticCache(store: store, local: $0) } })
    }

    package static var eventTypes: [any EventPayload.Type] { [BudgetEvents.ThresholdCrossed.self] }

    package func addRoutes(to routes: FeatureRoutes, queues: any JobQueues) {
        controller.addRoutes(to: routes.requiring(.chat))
        if let embeddings = ownsEmbeddingsRoute {
            let limits = self.limits
            routes.requiring(.embeddings).post(RouterPath(GatewayEmbeddings.route)) { request, context in
                try await embeddings.embed(try await request.body.collect(upTo: limits.current.maxBodyBytes), context: context)
            }
        }
    }

    package var socketOperations: [any SocketOperation] { [ChatSocketTurn(controller: controller)] }

    /// How the node's other features call chat models on a caller's behalf (an agent's turn).
    package var completions: ChatCompletionsController { controller }

    package var models: [ListedModel] {
        configuration.current.models.models.map { model in
            let windows = model.deployments.map(\.contextWindow)
            let smallestWindow = windows.contains(nil) ? nil : windows.compactMap { $0 }.min()
            return switch model.kind {
            case .chat:
                ListedModel(id: model.name, created: started, kind: .chat, aliases: model.aliases, contextWindow: smallestWindow)
            case .embedding:
                ListedModel(id: model.name, created: started, kind: .embedding, aliases: model.aliases, maxInputTokens: smallestWindow)
            }
        }
    }
}
