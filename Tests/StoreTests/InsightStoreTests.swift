import ConduitTestSupport
import Foundation
import SQLKit
import Testing

@testable import Store

@Suite("Store: conversations, insights and events")
struct InsightStoreTests {
    private static func conversation(_ text: String) -> NewConversation {
        NewConversation(pipeline: "default", messages: #"[{"content":"\#(text)","role":"user"}]"#, metadata: "{}")
    }

    private static func job(for conversationID: String) -> NewJob {
        NewJob(kind: "insights", queue: "insights", input: #"{"conversation_id":"\#(conversationID)"}"#)
    }

    private static func insight(for conversation: Conversation, hash: String = "h", labels: [String] = ["negative", "billing"])
        -> NewInsight
    {
        NewInsight(
            conversationID: conversation.id, jobID: conversation.jobID, pipeline: "default", pipelineVersion: 1, contentHash: hash,
            source: "analyzer", analysis: #"{"summary":"s"}"#, embedding: Data([1, 2, 3, 4]), embeddingModel: "m", labels: labels)
    }

    private static func announce(_ insightID: String) -> NewEvent {
        NewEvent(topic: "insight.created", payload: #"{"insight_id":"\#(insightID)"}"#)
    }

    @Test(
        "conversations are stored with their jobs in one transaction, in order; past the team's waiting bound none of a batch is stored",
        arguments: Backend.allCases)
    func creation(backend: Backend) async throws {
        try await TestDatabase.withTeam(backend) { store, team in
            let created = try await store.conversations.create(
                (0..<3).map { Self.conversation("text \($0)") }, teamID: team.id, maxWaiting: 4, job: Self.job(for:)
            ).conversations
            #expect(created.map(\.messages) == (0..<3).map { #"[{"content":"text \#($0)","role":"user"}]"# })
            for conversation in created {
                #expect(conversation.status == .pending && conversation.teamID == team.id)
                let job = try #require(try await store.jobs.find(conversation.jobID, teamID: team.id))
                #expect(job.queue == "insights" && job.state == .available && job.input.contains(conversation.id))
            }
            // Three wait; two more would make five, over the bound of four: neither is stored.
            await #expect(throws: JobQueueError.queueFull(waiting: 3)) {
                try await store.conversations.create(
                    [Self.conversation("a"), Self.conversation("b")], teamID: team.id, maxWaiting: 4, job: Self.job(for:))
            }
            let count = try await store.read { sql in
                try await sql.raw("SELECT COUNT(*) AS n FROM conversations").first()?.decode(column: "n", as: Int.self)
            }
            #expect(count == 3)
            let other = try await store.teams.create(name: "o")
            #expect(try await store.conversations.find(created[0].id, teamID: other.id) == nil, "another team's conversation is not found")
            #expect(try await store.conversations.find(created[0].id, teamID: team.id)?.id == created[0].id)
        }
    }

    @Test(
        "a conversation gets one insight and one event however often its job stores it; skipping is likewise once",
        arguments: Backend.allCases)
    func storedOnce(backend: Backend) async throws {
        try await TestDatabase.withTeam(backend) { store, team in
            let created = try await store.conversations.create(
                [Self.conversation("one"), Self.conversation("two")], teamID: team.id, job: Self.job(for:)
            ).conversations
            let (first, stored) = try await store.insights.store(Self.insight(for: created[0]), teamID: team.id, event: Self.announce)
            #expect(stored && first.conversationID == created[0].id && first.embedding == Data([1, 2, 3, 4]))
            // Its job ran again (a crash before it completed): nothing new.
            let (again, storedAgain) = try await store.insights.store(Self.insight(for: created[0]), teamID: team.id, event: Self.announce)
            #expect(!storedAgain && again == first)
            // At once, from two workers: still one.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        _ = try await store.insights.store(Self.insight(for: created[0]), teamID: team.id, event: Self.announce)
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await store.conversations.find(created[0].id)?.status == .analyzed)
            let events = try await store.events.list(teamID: team.id, filter: EventFilter(types: ["insight.created"]))
            #expect(events.map(\.payload) == [#"{"insight_id":"\#(first.id)"}"#])

            let skipped = NewEvent(topic: "conversation.skipped", payload: "{}")
            try await store.conversations.close(created[1].id, as: .skipped, reason: "too_short", event: skipped)
            try await store.conversations.close(created[1].id, as: .skipped, reason: "too_short", event: skipped)
            let conversation = try await store.conversations.find(created[1].id)
            #expect(conversation?.status == .skipped && conversation?.reason == "too_short")
            #expect(try await store.events.list(teamID: team.id, filter: EventFilter(types: ["conversation.skipped"])).count == 1)
            // Events are kept for a retention, then deleted.
            try await store.events.prune(before: StoreTime.now() + 1)
            #expect(try await store.events.list(teamID: team.id).isEmpty)
            // An analysed conversation is not skipped afterwards.
            try await store.conversations.close(created[0].id, as: .skipped, reason: "spam", event: skipped)
            #expect(try await store.conversations.find(created[0].id)?.status == .analyzed)
        }
    }

    @Test(
        "insights are listed newest first and filtered by conversation, label and time, page by page; the caches find them by hash and recency",
        arguments: Backend.allCases)
    func listing(backend: Backend) async throws {
        try await TestDatabase.withTeams(backend) { store, team, other in
            let created = try await store.conversations.create(
                (0..<5).map { Self.conversation("c\($0)") }, teamID: team.id, job: Self.job(for:)
            ).conversations
            var insights: [Insight] = []
            for (index, conversation) in created.enumerated() {
                let labels = index.isMultiple(of: 2) ? ["positive", "billing"] : ["negative", "shipping"]
                insights.append(
                    try await store.insights.store(
                        Self.insight(for: conversation, hash: "hash-\(index % 2)", labels: labels), teamID: team.id, event: Self.announce,
                        now: 1_000_000 + Int64(index) * 1000
                    ).insight)
            }
            let ids = insights.map(\.id)
            #expect(try await store.insights.list(teamID: team.id, limit: 10).map(\.id) == ids.reversed())
            #expect(try await store.insights.list(teamID: other.id, limit: 10).isEmpty)
            #expect(
                try await store.insights.list(teamID: team.id, matching: .init(label: "billing"), limit: 10).map(\.id) == [
                    ids[4], ids[2], ids[0],
                ])
            #expect(
                try await store.insights.list(teamID: team.id, matching: .init(label: "shipping"), limit: 10).map(\.id) == [ids[3], ids[1]])
            #expect(try await store.insights.list(teamID: team.id, matching: .init(label: "nothing"), limit: 10).isEmpty)
            #expect(
                try await store.insights.list(teamID: team.id, matching: .init(conversationID: created[3].id), limit: 10).map(\.id) == [
                    ids[3]
                ])
            #expect(
                try await store.insights.list(teamID: team.id, matching: .init(since: 1_001_000, until: 1_003_000), limit: 10).map(\.id)
                    == [
                        ids[2], ids[1],
                    ])
            let page = try await store.insights.list(teamID: team.id, limit: 2)
            let next = try await store.insights.list(teamID: team.id, limit: 2, after: page.last?.id)
            #expect(page.map(\.id) == [ids[4], ids[3]] && next.map(\.id) == [ids[2], ids[1]])

            #expect(try await store.insights.find(withContentHash: "hash-1", teamID: team.id)?.id == ids[3], "the latest with that hash")
            #expect(try await store.insights.find(withContentHash: "hash-1", teamID: other.id) == nil)
            #expect(
                try await store.insights.recentEmbeddings(teamID: team.id, pipeline: "default", version: 1, model: "m", limit: 3).map(\.id)
                    == [
                        ids[4], ids[3], ids[2],
                    ])
            #expect(
                try await store.insights.recentEmbeddings(teamID: team.id, pipeline: "default", version: 2, model: "m", limit: 3).isEmpty)
            #expect(
                try await store.insights.recentEmbeddings(teamID: team.id, pipeline: "default", version: 1, model: "other", limit: 3)
                    .isEmpty,
                "another model's vectors are not compared")
            #expect(try await store.insights.find(ids[1], teamID: team.id)?.conversationID == created[1].id)
            #expect(try await store.insights.find(ids[1], teamID: other.id) == nil)
            #expect(try await store.insights.find(ofConversation: created[2].id, teamID: team.id)?.id == ids[2])
            #expect(try await store.insights.find(ofConversation: created[2].id, teamID: other.id) == nil)
        }
    }

    @Test(
        "an idempotency key answers a resubmission with the conversations first stored, refuses other conversations under it, and holds when submitted at once; a failed conversation is analysed when its job runs again",
        arguments: Backend.allCases)
    func idempotencyAndFailure(backend: Backend) async throws {
        try await TestDatabase.withTeam(backend) { store, team in
            let batch = [Self.conversation("one"), Self.conversation("two")]
            let (first, created) = try await store.conversations.create(batch, teamID: team.id, idempotencyKey: "k", job: Self.job(for:))
            let (again, createdAgain) = try await store.conversations.create(
                batch, teamID: team.id, idempotencyKey: "k", job: Self.job(for:))
            #expect(created && !createdAgain && again == first)
            for other in [[Self.conversation("one"), Self.conversation("three")], [batch[0]], batch + [Self.conversation("x")]] {
                await #expect(throws: JobQueueError.idempotencyKeyReused) {
                    try await store.conversations.create(other, teamID: team.id, idempotencyKey: "k", job: Self.job(for:))
                }
            }
            // The same key for /v1/jobs is another key.
            #expect(try await store.jobs.enqueue(NewJob(kind: "embeddings", input: "{}", idempotencyKey: "k"), teamID: team.id).created)
            let concurrent = try await withThrowingTaskGroup(of: [String].self) { group in
                for _ in 0..<6 {
                    group.addTask {
                        try await store.conversations.create(batch, teamID: team.id, idempotencyKey: "k2", job: Self.job(for:))
                            .conversations.map(\.id)
                    }
                }
                return try await group.reduce(into: Set<[String]>()) { $0.insert($1) }
            }
            #expect(concurrent.count == 1)
            let count = try await store.read { sql in
                try await sql.raw("SELECT COUNT(*) AS n FROM conversations").first()?.decode(column: "n", as: Int.self)
            }
            #expect(count == 4)

            let failed = NewEvent(topic: "conversation.failed", payload: "{}")
            try await store.conversations.close(first[0].id, as: .failed, reason: "the upstream answered 503", event: failed)
            try await store.conversations.close(first[0].id, as: .failed, reason: "the upstream answered 503", event: failed)
            #expect(try await store.conversations.find(first[0].id)?.status == .failed)
            #expect(try await store.events.list(teamID: team.id, filter: EventFilter(types: ["conversation.failed"])).count == 1)
            _ = try await store.insights.store(Self.insight(for: first[0]), teamID: team.id, event: Self.announce)
            let analysed = try await store.conversations.find(first[0].id)
            #expect(analysed?.status == .analyzed && analysed?.reason == nil)
        }
    }
}
