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
            let webhooks = try await store.webhooks(teamID: try await teams.teamID(context))
            return try Response.json(["object": "list", "data": webhooks.map(Self.view), "has_more": false])
        }
        router.get("/v1/webhooks/{id}") { _, context in try Response.json(Self.view(try await webhook(context))) }
        router.delete("/v1/webhooks/{id}") { _, context in
            let id = try context.parameters.require("id")
            guard try await store.deleteWebhook(id, teamID: try await teams.teamID(context)) else { throw Self.notFound(id) }
            return try Response.json(["id": id, "object": "webhook", "deleted": true])
        }
        router.post("/v1/webhooks/{id}/rotate-secret") { _, context in
            let id = try context.parameters.require("id")
            let overlap = settings.read(\.rotationOverlap)
            guard
                let secret = try await store.rotateWebhookSecret(
                    id, teamID: try await teams.teamID(context), overlap: Int64(overlap / .milliseconds(1)))
            else { throw Self.notFound(id) }
            return try Response.json(["id": id, "object": "webhook", "secret": secret])
        }
        router.get("/v1/webhooks/{id}/deliveries") { request, context in
            let webhook = try await webhook(context)
            let page = try ListPage(request)
            let deliveries = try await store.webhookDeliveries(
                webhookID: webhook.id, teamID: webhook.teamID, limit: page.fetch, after: page.after)
            return try page.response(deliveries, id: \.id, representation: Self.view)
        }
        router.post("/v1/webhooks/{id}/deliveries/{delivery}/redeliver") { _, context in
            let webhook = try await webhook(context)
            let deliveryID = try context.parameters.require("delivery")
            guard
                let delivery = try await store.redeliver(
                    deliveryID, webhookID: webhook.id, teamID: webhook.teamID, traceContext: TraceContextCarrier.current())
            else { throw StoreError.notFound("no delivery '\(deliveryID)' of this webhook") }
            queues.wake(Webhook.deliveryQueue)
            return try Response.json(Self.view(delivery), status: .accepted)
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
        let (webhook, secret) = try await store.createWebhook(
            teamID: try await teams.teamID(context), url: registration.url, topics: subscribed, description: description)
        var shown = Self.view(webhook)
        shown["secret"] = secret
        return try Response.json(shown, status: .created)
    }

    private func webhook(_ context: ConduitRequestContext) async throws -> Webhook {
        let id = try context.parameters.require("id")
        guard let webhook = try await store.webhook(id, teamID: try await teams.teamID(context)) else { throw Self.notFound(id) }
        return webhook
    }

    private static func notFound(_ id: String) -> StoreError {
        .notFound("no webhook '\(id)'")
    }

    /// A webhook as the API shows it: never its secrets.
    private static func view(_ webhook: Webhook) -> [String: Any] {
        [
            "id": webhook.id, "object": "webhook", "url": webhook.url, "topics": webhook.topics, "description": webhook.description,
            "created_at": webhook.createdAt / 1000,
        ]
    }

    private static func view(_ delivery: WebhookDelivery) -> [String: Any] {
        [
            "id": delivery.id, "object": "webhook.delivery", "webhook_id": delivery.webhookID, "event_id": delivery.eventID,
            "topic": delivery.topic, "job_id": delivery.jobID, "status": delivery.status.rawValue, "attempts": delivery.attempts,
            "response_status": delivery.responseStatus ?? NSNull(), "last_error": delivery.lastError ?? NSNull(),
            "created_at": delivery.createdAt / 1000, "updated_at": delivery.updatedAt / 1000,
        ]
    }
}
