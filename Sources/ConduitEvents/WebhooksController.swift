import ConduitCore
import Foundation
import Hummingbird
import Store

/// `/v1/webhooks`: a team's endpoints for its events, managed with the `admin` scope. `POST` registers
/// one (`url`, `topics`, `description`) and shows its signing secret this once; `GET` lists them,
/// `GET|DELETE /v1/webhooks/{id}` shows or removes one, `POST /v1/webhooks/{id}/rotate-secret` gives it
/// a new secret (the old one keeps signing, next to it, for `webhooks.rotation_overlap_seconds`),
/// `GET /v1/webhooks/{id}/deliveries` lists what was sent and how it went, and
/// `POST /v1/webhooks/{id}/deliveries/{delivery}/redeliver` sends one again.
package struct WebhooksController {
    package let teams: TeamScope
    package let queues: any JobQueues
    package let settings: Live<WebhooksConfiguration>
    package let limits: Live<APILimits>
    package let topics: [String]

    private var store: Database { teams.store }

    package func addRoutes(to router: some RouterMethods<ConduitRequestContext>) {
        router.post("/v1/webhooks") { request, context in try await create(request, context: context) }
        router.get("/v1/webhooks") { _, context in
            let webhooks = try await store.webhooks.list(teamID: try await teams.teamID(context))
            return try json(WebhookList(data: webhooks.map { WebhookView($0) }))
        }
        router.get("/v1/webhooks/{id}") { _, context in try json(WebhookView(try await webhook(context))) }
        router.delete("/v1/webhooks/{id}") { _, context in
            let id = try context.parameters.require("id")
            guard try await store.webhooks.delete(id, teamID: try await teams.teamID(context)) else { throw Self.notFound(id) }
            return try json(WebhookChange(id: id, deleted: true))
        }
        router.post("/v1/webhooks/{id}/rotate-secret") { _, context in
            let id = try context.parameters.require("id")
            let overlap = settings.read(\.rotationOverlap)
            guard
                let secret = try await store.webhooks.rotateSecret(
                    id, teamID: try await teams.teamID(context), overlap: Int64(overlap / .milliseconds(1)))
            else { throw Self.notFound(id) }
            return try json(WebhookChange(id: id, secret: secret))
        }
        router.get("/v1/webhooks/{id}/deliveries") { request, context in
            let webhook = try await webhook(context)
            let page = try ListPage(request)
            let deliveries = try await store.webhooks.deliveries(
                webhookID: webhook.id, teamID: webhook.teamID, limit: page.fetch, after: page.after)
            return try page.response(deliveries, id: \.id, view: DeliveryView.init)
        }
        router.post("/v1/webhooks/{id}/deliveries/{delivery}/redeliver") { _, context in
            let webhook = try await webhook(context)
            let deliveryID = try context.parameters.require("delivery")
            guard
                let delivery = try await store.webhooks.redeliver(
                    deliveryID, webhookID: webhook.id, teamID: webhook.teamID, traceContext: TraceContextCarrier.current(),
                    maxWaiting: queues.maxWaitingPerTeam)
            else { throw StoreError.notFound("no delivery '\(deliveryID)' of this webhook") }
            queues.wake(Webhook.deliveryQueue)
            return try json(DeliveryView(delivery), status: .accepted)
        }
    }

    private struct Registration: Decodable {
        var url: String
        var topics: [String]?
        var description: String?
    }

    private func create(_ request: Request, context: ConduitRequestContext) async throws -> Response {
        let registration = try await request.decodeJSON(as: Registration.self, limit: limits.read(\.maxBodyBytes))
        if let problem = ReceiverAddress.problem(
            withURL: registration.url, allowPrivate: settings.read(\.allowPrivateAddresses))
        {
            throw InvalidInput("url \(problem)", param: "url", code: "invalid_url")
        }
        let subscribed = Array(Set(registration.topics ?? [])).sorted()
        if let unknown = subscribed.first(where: { !topics.contains($0) }) {
            throw InvalidInput(
                "no event topic '\(unknown)'; topics: \(topics.joined(separator: ", ")) (none: all of them)", param: "topics",
                code: "unknown_topic")
        }
        let description = registration.description ?? ""
        guard description.count <= 500, !description.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw InvalidInput(
                "description is at most 500 characters, without control characters", param: "description", code: "invalid_value")
        }
        guard queues.serves(Webhook.deliveryQueue) else {
            throw QueueNotServed(queue: Webhook.deliveryQueue, feature: "webhooks")
        }
        let (webhook, secret) = try await store.webhooks.create(
            teamID: try await teams.teamID(context), url: registration.url, topics: subscribed, description: description)
        return try json(WebhookView(webhook, secret: secret), status: .created)
    }

    private func webhook(_ context: ConduitRequestContext) async throws -> Webhook {
        let id = try context.parameters.require("id")
        guard let webhook = try await store.webhooks.find(id, teamID: try await teams.teamID(context)) else { throw Self.notFound(id) }
        return webhook
    }

    private static func notFound(_ id: String) -> StoreError {
        .notFound("no webhook '\(id)'")
    }

    /// A webhook as the API shows it; its secret only in the answer that made it.
    struct WebhookView: Encodable, Sendable {
        var id: String
        var object = "webhook"
        var url: String
        var topics: [String]
        var description: String
        var createdAt: Int64
        var secret: String?

        init(_ webhook: Webhook, secret: String? = nil) {
            id = webhook.id
            url = webhook.url
            topics = webhook.topics
            description = webhook.description
            createdAt = StoreTime.seconds(webhook.createdAt)
            self.secret = secret
        }
    }

    /// One delivery of an event to a webhook, and how it went.
    struct DeliveryView: Encodable, Sendable {
        var id: String
        var object = "webhook.delivery"
        var webhookID: String
        var eventID: String
        var topic: String
        var jobID: String
        var status: String
        var attempts: Int
        @Nullable var responseStatus: Int?
        @Nullable var lastError: String?
        var createdAt: Int64
        var updatedAt: Int64

        init(_ delivery: WebhookDelivery) {
            id = delivery.id
            webhookID = delivery.webhookID
            eventID = delivery.eventID
            topic = delivery.topic
            jobID = delivery.jobID
            status = delivery.status.rawValue
            attempts = delivery.attempts
            responseStatus = delivery.responseStatus
            lastError = delivery.lastError
            createdAt = StoreTime.seconds(delivery.createdAt)
            updatedAt = StoreTime.seconds(delivery.updatedAt)
        }
    }

    struct WebhookList: Encodable, Sendable {
        var object = "list"
        var data: [WebhookView]
        var hasMore = false
    }

    /// What `DELETE` and `rotate-secret` answer.
    struct WebhookChange: Encodable, Sendable {
        var id: String
        var object = "webhook"
        var deleted: Bool?
        var secret: String?
    }
}
