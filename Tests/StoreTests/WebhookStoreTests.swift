import ConduitTestSupport
import Foundation
import SQLKit
import Testing

@testable import Store

@Suite("Store: webhooks and their deliveries")
struct WebhookStoreTests {
    @Test(
        "an event makes, in its own transaction, one delivery and one job for each of the team's webhooks of its topic; attempts are recorded; deliveries page newest first; redelivery makes a new one; a cancelled job's delivery is cancelled; deleting a webhook removes its deliveries",
        arguments: Backend.allCases)
    func fanOut(backend: Backend) async throws {
        try await TestDatabase.withTeams(backend) { store, team, other in
            let insights = try await store.webhooks.create(
                teamID: team.id, url: "https://b.example/hook", topics: ["insight.created"], description: ""
            ).webhook
            // Made last: a webhook of every topic would also get the other's webhook.created.
            let all = try await store.webhooks.create(teamID: team.id, url: "https://a.example/hook", topics: [], description: "").webhook
            _ = try await store.webhooks.create(teamID: other.id, url: "https://c.example/hook", topics: [], description: "")
            #expect(Set(try await store.webhooks.list(teamID: team.id).map(\.id)) == [all.id, insights.id])
            #expect(try await store.webhooks.find(all.id, teamID: other.id) == nil)

            let conversation = try await store.conversations.create(
                [NewConversation(pipeline: "default", messages: "[]", metadata: "{}")], teamID: team.id,
                job: { NewJob(kind: "insights", queue: "insights", input: #"{"conversation_id":"\#($0)"}"#) }
            ).conversations[0]
            let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            try await store.conversations.close(
                conversation.id, as: .skipped, reason: "too_short",
                event: NewEvent(topic: "conversation.skipped", payload: "{}", traceContext: trace))
            let skipped = try await store.webhooks.deliveries(webhookID: all.id, teamID: team.id, limit: 10)
            #expect(skipped.count == 1 && skipped[0].topic == "conversation.skipped" && skipped[0].status == .pending)
            #expect(try await store.webhooks.deliveries(webhookID: insights.id, teamID: team.id, limit: 10).isEmpty, "not its topic")
            let job = try #require(try await store.jobs.find(skipped[0].jobID, teamID: team.id))
            #expect(job.kind == Webhook.deliveryKind && job.queue == Webhook.deliveryQueue && job.traceContext == trace)
            #expect(job.maxAttempts == Webhook.deliveryAttempts)

            let pending = try #require(try await store.webhooks.pendingDelivery(skipped[0].id))
            #expect(pending.webhook.signingSecrets.count == 1 && pending.event.topic == "conversation.skipped")
            try await store.webhooks.recordDeliveryAttempt(
                skipped[0].id, status: .pending, responseStatus: 503, error: "the receiver answered 503")
            try await store.webhooks.recordDeliveryAttempt(skipped[0].id, status: .succeeded, responseStatus: 204, error: nil)
            let settled = try await store.webhooks.deliveries(webhookID: all.id, teamID: team.id, limit: 10)[0]
            #expect(settled.attempts == 2 && settled.status == .succeeded && settled.responseStatus == 204 && settled.lastError == nil)

            let again = try #require(
                try await store.webhooks.redeliver(
                    settled.id, webhookID: all.id, teamID: team.id, traceContext: nil, now: settled.createdAt + 1))
            #expect(again.id != settled.id && again.eventID == settled.eventID && again.attempts == 0)
            #expect(try await store.webhooks.redeliver(settled.id, webhookID: all.id, teamID: other.id, traceContext: nil) == nil)
            // A redelivery is a job like the others: past the team's waiting bound in the deliveries' queue, refused.
            let waiting = try await store.read { sql in
                try await sql.raw("SELECT COUNT(*) AS n FROM jobs WHERE queue = \(bind: Webhook.deliveryQueue) AND state = 'available'")
                    .first()?
                    .decode(column: "n", as: Int.self) ?? 0
            }
            await #expect(throws: JobQueueError.queueFull(waiting: waiting)) {
                try await store.webhooks.redeliver(settled.id, webhookID: all.id, teamID: team.id, traceContext: nil, maxWaiting: waiting)
            }
            let first = try await store.webhooks.deliveries(webhookID: all.id, teamID: team.id, limit: 1)
            #expect(first.map(\.id) == [again.id], "newest first")
            #expect(
                try await store.webhooks.deliveries(webhookID: all.id, teamID: team.id, limit: 5, after: again.id).map(\.id) == [settled.id]
            )

            // A delivery whose job is cancelled (through /v1/jobs) says so.
            _ = try await store.jobs.cancel(again.jobID, teamID: team.id)
            #expect(try await store.webhooks.deliveries(webhookID: all.id, teamID: team.id, limit: 1).first?.status == .cancelled)

            // Rotation: the old secret signs next to the new one until the overlap ends.
            let now = StoreTime.now()
            let secret = try #require(try await store.webhooks.rotateSecret(all.id, teamID: team.id, overlap: 1000, now: now))
            #expect(try await store.webhooks.find(all.id, teamID: team.id, now: now + 999)?.signingSecrets.count == 2)
            #expect(try await store.webhooks.find(all.id, teamID: team.id, now: now + 1000)?.signingSecrets == [secret])
            #expect(try await store.webhooks.rotateSecret(all.id, teamID: other.id, overlap: 1000) == nil)

            #expect(try await store.webhooks.delete(all.id, teamID: other.id) == false)
            #expect(try await store.webhooks.delete(all.id, teamID: team.id))
            #expect(try await store.webhooks.pendingDelivery(again.id) == nil, "its job then finds nothing to send")
        }
    }
}
