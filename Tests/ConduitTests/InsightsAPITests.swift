import ConduitChat
import ConduitTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SQLKit
import Store
import Synchronization
import Testing

@testable import Conduit
@testable import ConduitCore
@testable import ConduitInsights
@testable import ConduitJobs

@Suite("Insights API")
struct InsightsAPITests {
    private func call(
        _ client: some TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, key: String, body: String? = nil,
        idempotencyKey: String? = nil
    ) async throws -> (TestResponse, [String: Any]) {
        var headers: HTTPFields = [.authorization: "Bearer \(key)"]
        if body != nil { headers[.contentType] = "application/json" }
        if let idempotencyKey { headers[.idempotencyKey] = idempotencyKey }
        let response = try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        let json = (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))) as? [String: Any] ?? [:]
        return (response, json)
    }

    private static func body(_ conversations: [[String]]) -> String {
        let list = conversations.map { texts in
            ["messages": texts.enumerated().map { ["role": $0.offset.isMultiple(of: 2) ? "user" : "assistant", "content": $0.element] }]
        }
        return String(decoding: try! JSONSerialization.data(withJSONObject: ["conversations": list]), as: UTF8.self)
    }

    /// Polls the conversation until its pipeline is done with it.
    private func settled(_ client: some TestClientProtocol, _ id: String, key: String) async throws -> [String: Any] {
        var shown: [String: Any] = [:]
        let done = try await eventually(within: .seconds(60), every: .milliseconds(100)) {
            shown = try await call(client, .get, "/v1/conversations/\(id)", key: key).1
            return shown["status"] as? String != "pending"
        }
        if !done { Issue.record("conversation \(id) still pending: \(shown)") }
        return shown
    }

    private static func insight(_ conversation: [String: Any]) -> [String: Any] {
        (conversation["insights"] as? [[String: Any]])?.first ?? [:]
    }

    private static func labels(_ insight: [String: Any]) -> (sentiment: String?, topics: [String]) {
        (
            (insight["sentiment"] as? [String: Any])?["label"] as? String,
            (insight["topics"] as? [[String: Any]] ?? []).compactMap { $0["label"] as? String }
        )
    }

    static let billing = [
        "I was charged twice for my subscription this month and I want a refund of the second payment. This is really frustrating.",
        "I am sorry about the double charge; the duplicate payment has been refunded to your card.",
    ]

    @Test(
        "conversations go through prefilter, exact cache, semantic cache and the local analyzer: insights with sentiment, topics, key phrases and a summary, found by label, conversation and page, each announced once; the metrics count skips, cache hits and analyzer calls"
    )
    func localPipeline() async throws {
        try await TestDatabase.withTeams(.sqlite) { store, team, other in
            let key = try await store.keys.create(name: "k", teamID: team.id, scopes: [.insights, .jobs, .operator]).secret
            let stranger = try await store.keys.create(name: "s", teamID: other.id, scopes: [.insights]).secret
            let embeddingsOnly = try await store.keys.create(name: "e", teamID: team.id, scopes: [.embeddings]).secret
            let metrics = ServerMetrics()
            let app = try TestServer.authenticatedApplication(store: store, metrics: metrics) { configuration in
                var pipeline = PipelineDefinition.builtIn
                pipeline.cache.semanticThreshold = 0.9
                configuration.insights.pipelines = PipelineLibrary(pipelines: ["default": pipeline])
            }
            try await app.test(.router) { client in
                #expect(
                    try await call(client, .post, "/v1/conversations", key: embeddingsOnly, body: Self.body([["x"]])).0.status == .forbidden
                )
                let conversations = [
                    Self.billing,
                    [
                        "Thank you so much, the new version works perfectly and your support team was wonderful. I am very happy with it!"
                    ],
                    ["I cannot log in to my account: the password reset email never arrives and now the account is locked."],
                    ["hi"],
                    // Words the embedding model cannot read: no analysis, and no semantic cache hit on one another.
                    ["สวัสดีครับ ผมต้องการคืนเงิน เพราะสินค้าเสียหายมาก"],
                    [String(repeating: "😡🤬", count: 20)],
                ]
                let (submitted, batch) = try await call(client, .post, "/v1/conversations", key: key, body: Self.body(conversations))
                #expect(submitted.status == .accepted)
                let created = try #require(batch["data"] as? [[String: Any]])
                let ids = created.compactMap { $0["id"] as? String }
                #expect(ids.count == 6 && (batch["job_ids"] as? [String])?.count == 6)
                #expect(created.allSatisfy { $0["status"] as? String == "pending" && $0["job_id"] is String })

                var shown: [[String: Any]] = []
                for id in ids { shown.append(try await settled(client, id, key: key)) }
                let billing = Self.insight(shown[0])
                #expect(shown[0]["status"] as? String == "analyzed" && billing["source"] as? String == "analyzer")
                #expect(Self.labels(billing).sentiment == "negative" && Self.labels(billing).topics.contains("billing"), "\(billing)")
                #expect(Self.labels(Self.insight(shown[1])).sentiment == "positive", "\(Self.insight(shown[1]))")
                #expect(Self.labels(Self.insight(shown[2])).topics.first == "account_access", "\(Self.insight(shown[2]))")
                let phrases = try #require(billing["key_phrases"] as? [String])
                #expect(
                    phrases.count == 5 && Set(phrases).count == 5 && phrases.allSatisfy { Self.billing.joined().lowercased().contains($0) })
                let summary = try #require(billing["summary"] as? String)
                let sentences = ConversationText([.init(role: "user", content: summary)], roles: []).sentences(limit: 10)
                #expect(
                    sentences.count == 2 && sentences.allSatisfy { Self.billing.joined(separator: " ").contains($0) },
                    "extractive: \(summary)")
                let confidence = try #require(billing["confidence"] as? Double)
                #expect(confidence > 0.34 && confidence <= 1 && billing["analyzer"] as? String == "local")
                #expect(((billing["usage"] as? [String: Any])?["prompt_tokens"] as? Int ?? 0) > 20)
                #expect(shown[3]["status"] as? String == "skipped" && shown[3]["reason"] as? String == "too_short")
                #expect((shown[3]["insights"] as? [Any])?.isEmpty == true && shown[3]["job_state"] as? String == "completed")
                #expect((shown[0]["messages"] as? [[String: Any]])?.count == 2)
                for unreadable in shown[4...5] {
                    #expect(
                        unreadable["status"] as? String == "skipped" && unreadable["reason"] as? String == "unreadable", "\(unreadable)")
                }

                // The same text again, in other case and spacing: the exact cache. A close paraphrase: the semantic cache.
                let again = try await call(
                    client, .post, "/v1/conversations", key: key,
                    body: Self.body([
                        Self.billing.map { "  " + $0.lowercased().replacingOccurrences(of: " ", with: "   ") },
                        [
                            "I was charged two times for my subscription this month and I want a refund of the second payment. This is really frustrating.",
                            Self.billing[1],
                        ],
                    ])
                ).1
                let againIDs = (again["data"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
                let exact = Self.insight(try await settled(client, againIDs[0], key: key))
                let semantic = Self.insight(try await settled(client, againIDs[1], key: key))
                #expect((semantic["summary"] as? String ?? "").contains("two times"), "its own words, not the cached conversation's")
                #expect(exact["source"] as? String == "exact_cache" && exact["cached_from"] as? String == billing["id"] as? String)
                #expect(semantic["source"] as? String == "semantic_cache" && semantic["cached_from"] as? String == billing["id"] as? String)
                #expect((semantic["similarity"] as? Double ?? 0) >= 0.9 && (semantic["similarity"] as? Double ?? 1) < 1)
                #expect(Self.labels(exact).sentiment == "negative" && exact["summary"] as? String == summary)

                let billingList = try await call(client, .get, "/v1/insights?label=billing", key: key).1
                let billingIDs = Set((billingList["data"] as? [[String: Any]] ?? []).compactMap { $0["conversation_id"] as? String })
                #expect(billingIDs == [ids[0], againIDs[0], againIDs[1]] && billingList["object"] as? String == "list")
                let one = try await call(client, .get, "/v1/insights?conversation_id=\(ids[2])", key: key).1
                #expect((one["data"] as? [[String: Any]])?.map { $0["conversation_id"] as? String } == [ids[2]])
                let page = try await call(client, .get, "/v1/insights?limit=2", key: key).1
                let rest = try await call(client, .get, "/v1/insights?limit=10&after=\(page["last_id"] as? String ?? "")", key: key).1
                #expect(page["has_more"] as? Bool == true && (page["data"] as? [Any])?.count == 2 && (rest["data"] as? [Any])?.count == 3)
                let future = Int(Date().timeIntervalSince1970) + 3600
                #expect((try await call(client, .get, "/v1/insights?since=\(future)", key: key).1["data"] as? [Any])?.isEmpty == true)
                #expect((try await call(client, .get, "/v1/insights?until=\(future)", key: key).1["data"] as? [Any])?.count == 5)

                #expect(try await call(client, .get, "/v1/conversations/\(ids[0])", key: stranger).0.status == .notFound)
                #expect((try await call(client, .get, "/v1/insights", key: stranger).1["data"] as? [Any])?.isEmpty == true)

                let announced = try await store.events.list(teamID: team.id, filter: EventFilter(types: ["insight.created"]))
                #expect(
                    announced.count == 5
                        && Set(announced.compactMap { Self.payloadConversation($0.payload) }) == Set(ids.prefix(3) + againIDs))
                #expect(try await store.events.list(teamID: team.id, filter: EventFilter(types: ["conversation.skipped"])).count == 3)

                let scraped = String(
                    buffer: try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer \(key)"]).body)
                for series in [
                    #"conduit_insights_prefilter_skips_total{pipeline="default",reason="too_short"} 1"#,
                    #"conduit_insights_prefilter_skips_total{pipeline="default",reason="unreadable"} 2"#,
                    #"conduit_insights_cache_hits_total{pipeline="default",kind="exact"} 1"#,
                    #"conduit_insights_cache_hits_total{pipeline="default",kind="semantic"} 1"#,
                    #"conduit_insights_analyzer_calls_total{analyzer="local",outcome="success"} 3"#,
                    #"conduit_insights_stored_total{pipeline="default",source="analyzer"} 3"#,
                ] {
                    #expect(scraped.contains(series), "\(series)")
                }
                #expect(scraped.contains(#"conduit_insights_analyzer_duration_seconds_count{analyzer="local"} 3"#))
            }
        }
    }

    private static func payloadConversation(_ payload: String) -> String? {
        (try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any])?["conversation_id"] as? String
    }

    @Test("a submission is checked field by field: 400 naming the field, nothing stored; past the waiting bound, 429 with Retry-After")
    func validation() async throws {
        try await TestDatabase.withTeam(.sqlite) { store, team in
            let key = try await store.keys.create(name: "k", teamID: team.id, scopes: [.insights, .jobs]).secret
            let reader = try await store.keys.create(name: "r", teamID: team.id, scopes: [.insights]).secret
            let app = try TestServer.authenticatedApplication(store: store) { $0.jobs.maxWaitingPerTeam = 2 }
            try await app.test(.router) { client in
                let long = String(repeating: "{", count: 10)
                for (body, param, code) in [
                    (#"[1]"#, nil, "invalid_type"),
                    (#"{"messages":[]}"#, "messages", "invalid_value"),
                    (#"{"messages":"hello"}"#, "messages", "invalid_value"),
                    (#"{"messages":[{"role":"robot","content":"hello there"}]}"#, "messages[0].role", "invalid_value"),
                    (#"{"messages":[{"role":"user","content":12}]}"#, "messages[0].content", "invalid_type"),
                    (#"{"messages":[{"role":"user","content":"   "}]}"#, "messages", "empty_input"),
                    (#"{"messages":[{"role":"user","content":"\u200b\u200d\ufeff\u202e "}]}"#, "messages", "empty_input"),
                    (#"{"messages":[{"role":"user","content":"hello there"}],"metadata":[1]}"#, "metadata", "invalid_type"),
                    (#"{"messages":[{"role":"user","content":"hello there"}],"pipeline":"nope"}"#, "pipeline", "unknown_pipeline"),
                    (#"{"conversations":[]}"#, "conversations", "invalid_value"),
                    (
                        #"{"conversations":[{"messages":[{"role":"user","content":"fine"}]},{"messages":[{"role":"x","content":"y"}]}]}"#,
                        "conversations[1].messages[0].role", "invalid_value"
                    ),
                    (long, nil, "invalid_json"),
                ] {
                    let (response, json) = try await call(client, .post, "/v1/conversations", key: key, body: body)
                    let error = json["error"] as? [String: Any]
                    #expect(response.status == .badRequest && error?["code"] as? String == code, "\(body): \(json)")
                    if let param { #expect(error?["param"] as? String == param, "\(body)") }
                }
                let count = try await store.read { sql in
                    try await sql.raw("SELECT COUNT(*) AS n FROM conversations").first()?.decode(column: "n", as: Int.self)
                }
                #expect(count == 0)
                #expect(try await call(client, .get, "/v1/insights?limit=0", key: key).0.status == .badRequest)
                #expect(try await call(client, .get, "/v1/insights?until=-5", key: key).0.status == .badRequest)
                #expect(try await call(client, .get, "/v1/conversations/nope", key: key).0.status == .notFound)
                // Reading is the insights scope (a viewer's); submitting makes jobs.
                #expect(try await call(client, .post, "/v1/conversations", key: reader, body: Self.body([["x"]])).0.status == .forbidden)
                #expect(try await call(client, .get, "/v1/insights", key: reader).0.status == .ok)

                // OpenAI's other content forms: null (a tool call) and parts. A resubmission under one key is answered
                // with what the first stored.
                let forms =
                    #"{"messages":[{"role":"assistant","content":null},{"role":"user","content":[{"type":"text","text":"where is"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"my parcel"}]}]}"#
                let (first, stored) = try await call(client, .post, "/v1/conversations", key: key, body: forms, idempotencyKey: "once")
                let (again, replayed) = try await call(client, .post, "/v1/conversations", key: key, body: forms, idempotencyKey: "once")
                #expect(first.status == .accepted && again.status == .ok && again.headers[.idempotentReplayed] == "true")
                #expect(stored["id"] as? String != nil && replayed["id"] as? String == stored["id"] as? String)
                let shown = try await call(client, .get, "/v1/conversations/\(stored["id"] as? String ?? "")", key: key).1
                #expect((shown["messages"] as? [[String: Any]])?.map { $0["content"] as? String } == ["", "where is\nmy parcel"])
                let reused = try await call(
                    client, .post, "/v1/conversations", key: key, body: Self.body([["other text"]]), idempotencyKey: "once")
                #expect(reused.0.status == .unprocessableContent)

                // Three at once, over the bound of two waiting: refused whole.
                let (full, refusal) = try await call(
                    client, .post, "/v1/conversations", key: key, body: Self.body([["a b c"], ["d e f"], ["g h i"]]))
                #expect(full.status == .tooManyRequests && full.headers[.retryAfter] != nil)
                #expect((refusal["error"] as? [String: Any])?["code"] as? String == "job_queue_full")
            }
        }
    }

    /// Plays an OpenAI-compatible provider: records each request and answers with the next scripted reply.
    final class Upstream: Sendable {
        struct Call: Sendable {
            var body: [String: any Sendable]
            var authorization: String?
        }
        private let state = Mutex<(calls: [Call], replies: [(status: Int, content: String)])>(([], []))

        init(replies: [(status: Int, content: String)]) { state.withLock { $0.replies = replies } }

        var calls: [Call] { state.withLock { $0.calls } }

        func application() -> some ApplicationProtocol {
            let router = Router()
            router.post("/v1/chat/completions") { request, _ -> Response in
                let data = Data(try await request.body.collect(upTo: 1 << 20).readableBytesView)
                let body = (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
                let reply = self.state.withLock { state -> (status: Int, content: String) in
                    state.calls.append(Call(body: body.mapValues { "\($0)" }, authorization: request.headers[.authorization]))
                    return state.replies.isEmpty ? (200, "{}") : state.replies.removeFirst()
                }
                let answer: [String: Any] = [
                    "id": "chatcmpl-1", "object": "chat.completion", "model": body["model"] ?? "",
                    "choices": [["index": 0, "message": ["role": "assistant", "content": reply.content], "finish_reason": "stop"]],
                    "usage": ["prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110],
                ]
                return Response(
                    status: .init(code: reply.status), headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: answer))))
            }
            return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        }
    }

    @Test(
        "the llm: analyzer asks a model of the chat gateway for JSON of the pipeline's schema, with the deployment's key; sends an invalid answer back with what was wrong, stores the valid one with its tokens and its cost at the deployment's prices; a provider's error fails the attempt, to be retried"
    )
    func llmAnalyzer() async throws {
        let valid = #"{"sentiment":"negative","topics":["billing"],"key_phrases":["double charge"],"summary":"A refund.","confidence":0.9}"#
        let upstream = Upstream(replies: [(200, "Sure! The customer is upset."), (200, "```json\n\(valid)\n```"), (503, "overloaded")])
        try await upstream.application().test(.live) { upstreamClient in
            try await TestDatabase.withTeam(.sqlite) { store, team in
                let key = try await store.keys.create(name: "k", teamID: team.id, scopes: [.insights, .jobs]).secret
                let app = try TestServer.authenticatedApplication(store: store) { configuration in
                    var pipeline = PipelineDefinition.builtIn
                    pipeline.name = "llm"
                    pipeline.analyzer = .llm(model: "test-model")
                    configuration.insights.pipelines = PipelineLibrary(pipelines: ["default": .builtIn, "llm": pipeline])
                    configuration.chat.models = try! GatewayModelTable([Self.model("test-model", port: upstreamClient.port!)])
                    configuration.chat.maxRetries = 0
                }
                try await app.test(.router) { client in
                    let body = #"{"pipeline":"llm","messages":[{"role":"user","content":"\#(Self.billing[0])"}]}"#
                    let id = try #require(try await call(client, .post, "/v1/conversations", key: key, body: body).1["id"] as? String)
                    let insight = Self.insight(try await settled(client, id, key: key))
                    #expect(insight["analyzer"] as? String == "llm:test-model" && insight["source"] as? String == "analyzer")
                    #expect(Self.labels(insight).sentiment == "negative" && Self.labels(insight).topics == ["billing"])
                    #expect(insight["key_phrases"] as? [String] == ["double charge"] && insight["confidence"] as? Double == 0.9)
                    let usage = insight["usage"] as? [String: Any]
                    #expect(usage?["prompt_tokens"] as? Int == 200 && usage?["completion_tokens"] as? Int == 20, "two calls")
                    #expect(abs((insight["cost_usd"] as? Double ?? 0) - 220 * 2 / 1e6) < 1e-12)

                    let calls = upstream.calls
                    #expect(calls.count == 2 && calls.allSatisfy { $0.authorization == "Bearer upstream-secret" })
                    let first = calls[0].body
                    #expect(first["model"] as? String == "test-model")
                    let format = first["response_format"] as? String ?? ""
                    #expect(format.contains("json_schema") && format.contains("account_access") && format.contains("positive"), "\(format)")
                    let retry = calls[1].body["messages"] as? String ?? ""
                    #expect(
                        retry.contains("Sure! The customer is upset.") && retry.contains("not valid"), "the bad answer goes back with why")

                    // The provider fails: the attempt fails and the job waits for its retry, its last, which gets only
                    // invalid answers: the conversation is failed, with why, and announced. Two attempts, set before the
                    // retry's backoff of a second has passed, however slowly this test reads the job.
                    let failing =
                        #"{"pipeline":"llm","messages":[{"role":"user","content":"My parcel never arrived and tracking shows nothing."}]}"#
                    let conversation = try await call(client, .post, "/v1/conversations", key: key, body: failing).1
                    let jobID = try #require(conversation["job_id"] as? String)
                    try await store.transaction { sql in
                        try await sql.raw("UPDATE jobs SET max_attempts = 2 WHERE id = \(bind: jobID)").run()
                    }
                    let conversationID = try #require(conversation["id"] as? String)
                    let failed = try await settled(client, conversationID, key: key)
                    #expect(failed["status"] as? String == "failed" && (failed["reason"] as? String ?? "").contains("invalid"), "\(failed)")
                    #expect(try await store.events.list(teamID: team.id, filter: EventFilter(types: ["conversation.failed"])).count == 1)
                    let job = try await call(client, .get, "/v1/jobs/\(jobID)", key: key).1
                    let errors = job["errors"] as? [[String: Any]] ?? []
                    #expect(errors.count == 2, "\(job)")
                    #expect(
                        errors.first?["message"] as? String == "the deployment 'test-model/1' answered 503 (1 attempt)",
                        "the provider's body is not shown to the team: \(job)")
                    #expect(upstream.calls.count == 6, "two, one failed, three invalid")
                }
            }
        }
    }

    @Test(
        "below min_confidence an insight is marked uncertain and found by the label uncertain; with llm_fallback only those go to the LLM, whose analysis is stored with what the local analyzer said, its tokens and its cost"
    )
    func uncertainAndFallback() async throws {
        let valid =
            #"{"sentiment":"negative","topics":["billing"],"key_phrases":["double charge"],"summary":"A refund.","confidence":0.95}"#
        let upstream = Upstream(replies: [(200, valid)])
        try await upstream.application().test(.live) { upstreamClient in
            try await TestDatabase.withTeam(.sqlite) { store, team in
                let key = try await store.keys.create(name: "k", teamID: team.id, scopes: [.insights, .jobs, .operator]).secret
                let metrics = ServerMetrics()
                let app = try TestServer.authenticatedApplication(store: store, metrics: metrics) { configuration in
                    // A bar no analysis reaches, and one every analysis does.
                    var doubtful = PipelineDefinition.builtIn
                    doubtful.name = "doubtful"
                    doubtful.minConfidence = 1
                    var escalating = doubtful
                    escalating.name = "escalating"
                    escalating.llmFallback = "test-model"
                    var sure = escalating
                    sure.name = "sure"
                    sure.minConfidence = 0
                    configuration.insights.pipelines = PipelineLibrary(pipelines: [
                        "default": .builtIn, "doubtful": doubtful, "escalating": escalating, "sure": sure,
                    ])
                    configuration.chat.models = try! GatewayModelTable([Self.model("test-model", port: upstreamClient.port!)])
                }
                try await app.test(.router) { client in
                    func analysed(_ pipeline: String, _ text: String) async throws -> [String: Any] {
                        let body = #"{"pipeline":"\#(pipeline)","messages":[{"role":"user","content":"\#(text)"}]}"#
                        let id = try #require(try await call(client, .post, "/v1/conversations", key: key, body: body).1["id"] as? String)
                        return Self.insight(try await settled(client, id, key: key))
                    }
                    let sure = try await analysed("sure", Self.billing[0])
                    #expect(sure["analyzer"] as? String == "local" && sure["uncertain"] == nil && sure["fallback_from"] == nil, "\(sure)")
                    #expect(upstream.calls.isEmpty, "a confident analysis costs no LLM call")

                    let doubtful = try await analysed("doubtful", "My parcel never arrived and tracking shows nothing.")
                    #expect(doubtful["analyzer"] as? String == "local" && doubtful["uncertain"] as? Bool == true, "\(doubtful)")
                    let listed = try await call(client, .get, "/v1/insights?label=uncertain", key: key).1
                    #expect((listed["data"] as? [[String: Any]])?.map { $0["id"] as? String } == [doubtful["id"] as? String])

                    let escalated = try await analysed("escalating", Self.billing[0])
                    #expect(escalated["analyzer"] as? String == "llm:test-model" && escalated["uncertain"] == nil, "\(escalated)")
                    let from = try #require(escalated["fallback_from"] as? [String: Any])
                    #expect(from["analyzer"] as? String == "local" && from["sentiment"] as? String == "negative")
                    #expect((from["confidence"] as? Double ?? 2) < 1 && (from["topics"] as? [String])?.first == "billing", "\(from)")
                    #expect(escalated["confidence"] as? Double == 0.95 && upstream.calls.count == 1)
                    #expect(abs((escalated["cost_usd"] as? Double ?? 0) - 110 * 2 / 1e6) < 1e-12)

                    // The model answers nothing valid now: the local analysis stands, uncertain, and is not lost.
                    let unanswered = try await analysed("escalating", "My parcel never arrived and the tracking page is blank.")
                    #expect(unanswered["analyzer"] as? String == "local" && unanswered["uncertain"] as? Bool == true, "\(unanswered)")
                    #expect(upstream.calls.count == 4, "one answered, then three invalid answers")

                    let scraped = String(
                        buffer: try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer \(key)"]).body)
                    for series in [
                        #"conduit_insights_uncertain_total{pipeline="doubtful"} 1"#,
                        #"conduit_insights_fallbacks_total{pipeline="escalating",from="local"} 1"#,
                        #"conduit_insights_analyzer_tokens_total{analyzer="llm:test-model",type="completion"} 40"#,
                    ] {
                        #expect(scraped.contains(series), "\(series)")
                    }
                }
            }
        }
    }

    @Test(
        "POST /v1/insights/evaluate (admin) measures a pipeline on labelled conversations, stores nothing, and prices an LLM analyzer's calls; bad input is a 400 naming what is wrong"
    )
    func evaluateEndpoint() async throws {
        let answer = #"{"sentiment":"negative","topics":["shipping"],"key_phrases":[],"summary":"Late.","confidence":0.7}"#
        let upstream = Upstream(replies: [(200, answer), (200, answer)])
        try await upstream.application().test(.live) { upstreamClient in
            try await TestDatabase.withTeam(.sqlite) { store, team in
                let admin = try await store.keys.create(name: "a", teamID: team.id, scopes: [.admin]).secret
                let member = try await store.keys.create(name: "m", teamID: team.id, scopes: [.insights, .jobs]).secret
                let app = try TestServer.authenticatedApplication(store: store) { configuration in
                    var llm = PipelineDefinition.builtIn
                    llm.name = "llm"
                    llm.analyzer = .llm(model: "test-model")
                    configuration.insights.pipelines = PipelineLibrary(pipelines: ["default": .builtIn, "llm": llm])
                    configuration.chat.models = try! GatewayModelTable([Self.model("test-model", port: upstreamClient.port!)])
                }
                let labelled = #"""
                    {"pipeline": "PIPELINE", "conversations": [
                      {"id": "late", "messages": [{"role": "user", "content": "My package is two weeks late and the tracking hasn't moved"}], "sentiment": "negative", "topic": "shipping"},
                      {"messages": [{"role": "user", "content": "Thank you so much, the refund arrived and you were wonderful!"}], "sentiment": "positive", "topic": "billing"}
                    ]}
                    """#
                try await app.test(.router) { client in
                    #expect(
                        try await call(
                            client, .post, "/v1/insights/evaluate", key: member, body: labelled.replacing("PIPELINE", with: "default")
                        )
                        .0.status == .forbidden)
                    let (ok, local) = try await call(
                        client, .post, "/v1/insights/evaluate", key: admin, body: labelled.replacing("PIPELINE", with: "default"))
                    #expect(ok.status == .ok && local["analyzer"] as? String == "local" && local["conversations"] as? Int == 2, "\(local)")
                    let fields = try #require(local["fields"] as? [[String: Any]])
                    #expect(fields.map { $0["field"] as? String } == ["sentiment", "topic"])
                    #expect(fields.allSatisfy { $0["accuracy"] as? Double == 1 && $0["labelled"] as? Int == 2 }, "\(fields)")
                    let confusion = try #require(fields[1]["confusion"] as? [String: Any])
                    #expect(
                        confusion["labels"] as? [String] == ["billing", "shipping"]
                            && confusion["matrix"] as? [[Int]] == [[1, 0], [0, 1]])
                    #expect((local["fit"] as? [String: Any])?["examples"] as? Int == BuiltInExamples.support.count)
                    #expect(try await store.jobs.list(teamID: team.id, state: nil, kind: nil, limit: 10).isEmpty, "nothing stored, no job")

                    let llm = try await call(
                        client, .post, "/v1/insights/evaluate", key: admin, body: labelled.replacing("PIPELINE", with: "llm")
                    ).1
                    let llmFields = llm["fields"] as? [[String: Any]] ?? []
                    #expect(llmFields.map { $0["accuracy"] as? Double } == [0.5, 0.5], "the fake model says negative, shipping: \(llm)")
                    #expect(abs((llm["cost_usd"] as? Double ?? 0) - 2 * 110 * 2 / 1e6) < 1e-12, "\(llm)")
                    let mistakes = llm["mistakes"] as? [[String: Any]] ?? []
                    #expect(
                        mistakes.map { $0["field"] as? String } == ["sentiment", "topic"]
                            && mistakes.first?["id"] as? String == "conversations[1]")

                    for (body, says) in [
                        (labelled.replacing("PIPELINE", with: "nope"), "pipeline must be one of default, llm"),
                        (#"{"conversations": []}"#, "conversations must be a list of 1 to 2000"),
                        (#"{"pipeline": 7, "conversations": []}"#, "pipeline must be one of default, llm"),
                        (
                            #"{"conversations": [{"messages": [{"role": "user", "content": "x"}], "topic": "weather"}]}"#,
                            "topic 'weather' is not one of the pipeline's"
                        ),
                        (#"{"conversations": [{"messages": [{"role": "user", "content": "x"}]}]}"#, "has neither a sentiment nor a topic"),
                        (#"{"conversations": [{"messages": "x", "topic": "billing"}]}"#, "\"messages\" must be a non-empty list"),
                    ] {
                        let (response, error) = try await call(client, .post, "/v1/insights/evaluate", key: admin, body: body)
                        let message = (error["error"] as? [String: Any])?["message"] as? String ?? ""
                        #expect(response.status == .badRequest && message.contains(says), "\(message)")
                    }
                }
            }
        }
    }

    /// A chat model of one deployment at the fake provider on `port`, at $2 per million tokens.
    static func model(_ name: String, port: Int, id: String? = nil) -> GatewayModel {
        GatewayModel(
            name: name,
            deployments: [
                GatewayDeployment(
                    id: id ?? "\(name)/1", baseURL: URL(string: "http://127.0.0.1:\(port)/v1")!, apiKey: "upstream-secret", model: name,
                    inputPricePerMillion: 2, outputPricePerMillion: 2)
            ])
    }

    @Test(
        "what llm: pipelines ask of the gateway is routed as a client's call: a failing deployment is retried at another and the cost is the one that served; a model not served is refused by name"
    )
    func llmThroughGateway() async throws {
        let upstream = Upstream(replies: [(503, "down"), (200, "answer")])
        try await upstream.application().test(.live) { upstreamClient in
            var model = Self.model("m", port: upstreamClient.port!, id: "first")
            var second = model.deployments[0]
            second.id = "second"
            second.inputPricePerMillion = 10
            model.deployments.append(second)
            model.routing = .leastOutstanding
            var chat = ChatConfiguration()
            chat.models = try GatewayModelTable([model])
            chat.backoff = .milliseconds(1)
            let outbound = OutboundHTTPClient()
            let gateway = ChatGateway(configuration: .constant(chat), outbound: outbound, metricsFactory: ServerMetrics().factory)
            let completion = try await gateway.complete(["model": "m", "messages": [["role": "user", "content": "hi"]]])
            #expect(completion.content == "answer" && upstream.calls.count == 2)
            #expect(completion.usage.promptTokens == 100 && completion.usage.completionTokens == 10)
            let price = completion.deployment == "second" ? 100 * 10 + 10 * 2 : 110 * 2
            #expect(abs(completion.costUSD - Double(price) / 1e6) < 1e-12, "\(completion)")
            let refusal = await #expect(throws: (any Error).self) {
                try await gateway.complete(["model": "gone", "messages": [["role": "user", "content": "hi"]]])
            }
            #expect("\(refusal.map { "\($0)" } ?? "")".contains("'gone' is not served"))
            await gateway.states.shutdown()
            try await outbound.shutdown()
        }
    }
}
