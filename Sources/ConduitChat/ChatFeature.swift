import ConduitCore
import CoreMetrics
import Foundation
import ServiceLifecycle
import Store

/// The gateway to model providers: `POST /v1/chat/completions` for the models of `chat.models_file`,
/// each sent to one of its deployments, with retries, fallbacks and a circuit per deployment.
package struct ChatFeature: ConduitFeature {
    let configuration: Live<ChatConfiguration>
    let controller: ChatCompletionsController
    let states: DeploymentStates
    /// When the node started: what `/v1/models` says the chat models were created.
    let started = Int(Date().timeIntervalSince1970)

    package init(
        configuration: Live<ChatConfiguration>, limits: Live<APILimits>, outbound: OutboundHTTPClient, store: Database?,
        rateLimiter: RateLimiter?, meter: UsageMeter, metricsFactory: any MetricsFactory
    ) {
        self.configuration = configuration
        states = DeploymentStates(outbound: outbound, metricsFactory: metricsFactory)
        controller = ChatCompletionsController(
            gateway: ChatGateway(configuration: configuration, states: states, metrics: ChatMetrics(factory: metricsFactory)),
            limits: limits,
            rateLimiter: rateLimiter, meter: meter, cache: store.map(ExactCache.init))
    }

    package static var eventTopics: [String] { [BudgetEvents.thresholdCrossed] }

    package func addRoutes(to routes: FeatureRoutes, queues: any JobQueues) {
        controller.addRoutes(to: routes.requiring(.chat))
    }

    package var services: [any Service] { [states] }

    package var models: [ListedModel] {
        configuration.current.models.models.map { model in
            let windows = model.deployments.map(\.contextWindow)
            return ListedModel(
                id: model.name, created: started, kind: .chat, aliases: model.aliases,
                contextWindow: windows.contains(nil) ? nil : windows.compactMap { $0 }.min())
        }
    }
}
