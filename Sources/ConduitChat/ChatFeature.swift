import ConduitCore
import Foundation
import Store

/// The gateway to model providers: `POST /v1/chat/completions` for the models of `chat.models_file`,
/// each sent to one of its deployments, with retries, fallbacks and a circuit per deployment.
package struct ChatFeature: ConduitFeature {
    let configuration: Live<ChatConfiguration>
    let controller: ChatCompletionsController
    /// When the node started: what `/v1/models` says the chat models were created.
    let started = Int(Date().timeIntervalSince1970)

    /// `gateway` is the node's, shared with the features that call models themselves; its owner runs its
    /// deployments' service.
    package init(gateway: ChatGateway, limits: Live<APILimits>, store: Database?, rateLimiter: RateLimiter?, meter: UsageMeter) {
        configuration = gateway.configuration
        controller = ChatCompletionsController(
            gateway: gateway, limits: limits, rateLimiter: rateLimiter, meter: meter, cache: store.map(ExactCache.init))
    }

    package static var eventTopics: [String] { [BudgetEvents.thresholdCrossed] }

    package func addRoutes(to routes: FeatureRoutes, queues: any JobQueues) {
        controller.addRoutes(to: routes.requiring(.chat))
    }

    package var models: [ListedModel] {
        configuration.current.models.models.map { model in
            let windows = model.deployments.map(\.contextWindow)
            return ListedModel(
                id: model.name, created: started, kind: .chat, aliases: model.aliases,
                contextWindow: windows.contains(nil) ? nil : windows.compactMap { $0 }.min())
        }
    }
}
