import ConduitTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SQLKit
import Store
import Testing

@testable import Conduit
@testable import ConduitAdmin
@testable import ConduitCore
@testable import ConduitJobs

@Suite("Jobs API")
struct JobsAPITests {
    private func call(
        _ client: some TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, key: String, body: String? = nil,
        headers extra: HTTPFields = [:]
    ) async throws -> (TestResponse, [String: Any]) {
        var headers: HTTPFields = [.authorization: "Bearer \(key)"]
        if body != nil { headers[.contentType] = "application/json" }
        headers.append(contentsOf: extra)
        let response = try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        let json = (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))) as? [String: Any] ?? [:]
        return (response, json)
    }

    @Test(
        "a batch embedding job is acknowledged once stored, runs through the scheduler with its progress shown, and its output holds the vectors /v1/embeddings gives, as JSON lines or float32"
    )
    func batchEmbedding() async throws {
        try await TestDatabase.withTeam(.sqlite) { store, team in
            let key = try await store.keys.create(name: "k", teamID: team.id, scopes: [.embeddings, .jobs]).secret
            let metrics = ServerMetrics()
            let app = try TestServer.authenticatedApplication(store: store, metrics: metrics)
            let texts = (0..<150).map { "batch text number \($0) about \(["rivers", "engines", "tea"][$0 % 3])" }
            let input = String(decoding: try JSONSerialization.data(withJSONObject: ["input": texts]), as: UTF8.self)
            try await app.test(.router) { client in
                let (submitted, job) = try await call(
                    client, .post, "/v1/jobs", key: key, body: #"{"kind":"embeddings","input":\#(input)}"#)
                #expect(submitted.status == .accepted && job["state"] as? String == "available" && job["queue"] as? String == "embeddings")
                let id = try #require(job["id"] as? String)
                #expect(try await store.jobs.find(id) != nil, "stored before the 202")

                var shown: [String: Any] = [:]
                try await eventually(within: .seconds(60), every: .milliseconds(100)) {
                    shown = try await call(client, .get, "/v1/jobs/\(id)", key: key).1
                    return shown["state"] as? String == "completed"
                }
                #expect(shown["state"] as? String == "completed")
                #expect((shown["progress"] as? [String: Any])?["done"] as? Int == 150)
                let result = try #require(shown["result"] as? [String: Any])
                #expect(
                    result["count"] as? Int == 150 && result["dimensions"] as? Int == 384
                        && result["output_format"] as? String == "float32le")

                let lines = try await client.execute(uri: "/v1/jobs/\(id)/output", method: .get, headers: [.authorization: "Bearer \(key)"])
                let rows = String(buffer: lines.body).split(separator: "\n").compactMap {
                    try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
                }
                #expect(rows.count == 150 && rows.map { $0["index"] as? Int } == Array(0..<150))
                let binary = try await client.execute(
                    uri: "/v1/jobs/\(id)/output?format=float32", method: .get, headers: [.authorization: "Bearer \(key)"])
                #expect(binary.body.readableBytes == 150 * 384 * 4)

                let online = try await call(client, .post, "/v1/embeddings", key: key, body: #"{"input":["\#(texts[77])"]}"#).1
                let expected = try #require(((online["data"] as? [[String: Any]])?.first?["embedding"] as? [NSNumber])?.map(\.floatValue))
                let batched = try #require((rows[77]["embedding"] as? [NSNumber])?.map(\.floatValue))
                let dot = zip(expected, batched).reduce(Float(0)) { $0 + $1.0 * $1.1 }
                #expect(dot > 0.99999, "the same vector as online, cosine \(dot)")

                // The job's tokens are in the usage report, as online requests' are (written once a second).
                let jobTokens = try #require(result["prompt_tokens"] as? Int)
                var recorded: Int64 = 0
                try await eventually(within: .seconds(10), every: .milliseconds(200)) {
                    recorded = try await store.read { sql in
                        try await sql.raw(
                            "SELECT SUM(tokens) AS n FROM usage_events WHERE route = '/v1/jobs' AND team_id = \(bind: team.id)"
                        )
                        .first()?.decode(column: "n", as: Int64?.self) ?? 0
                    }
                    return recorded >= Int64(jobTokens)
                }
                #expect(recorded == Int64(jobTokens))
                // And in the usage metrics, with the online request's tokens.
                let exposition = String(decoding: metrics.exposition(), as: UTF8.self)
                let counted = exposition.split(separator: "\n").first {
                    $0.hasPrefix(#"conduit_usage_tokens_total{model="all-MiniLM-L6-v2"}"#)
                }
                #expect(counted.flatMap { Int($0.split(separator: " ").last ?? "") }.map { $0 > jobTokens } == true, "\(counted ?? "none")")
            }
        }
    }

    @Test(
        "a batch embedding job counts against the limits of the key that submitted it: the submission as a request, each chunk's tokens as they are computed; a spent monthly quota fails the attempt, which then counts nothing; a per-minute limit is waited out"
    )
    func batchEmbeddingLimits() async throws {
        try await TestDatabase.withTeam(.sqlite) { store, team in
            let created = try await store.keys.create(name: "k", teamID: team.id, scopes: [.embeddings, .jobs])
            try await store.keys.setLimits(Limits(requestsPerMinute: 1_000, monthlyTokens: 1_000_000), forKey: created.key.id)
            let identity = Identity(
                teamID: team.id, keyID: created.key.id, keyLimits: Limits(requestsPerMinute: 1_000, monthlyTokens: 1_000_000),
                teamLimits: .none)
            let month = try #require(identity.rateWindows.first { $0.period == .month })
            let minute = try #require(identity.rateWindows.first { $0.period == .minute })
            let app = try TestServer.authenticatedApplication(store: store)
            let texts = (0..<100).map { "batch text number \($0) about rivers and engines" }
            let input = String(decoding: try JSONSerialization.data(withJSONObject: ["input": texts]), as: UTF8.self)
            try await app.test(.router) { client in
                let (_, job) = try await call(
                    client, .post, "/v1/jobs", key: created.secret, body: #"{"kind":"embeddings","input":\#(input)}"#)
                let id = try #require(job["id"] as? String)
                #expect(try await store.jobs.find(id)?.keyID == created.key.id)
                var shown: [String: Any] = [:]
                try await eventually(within: .seconds(60), every: .milliseconds(100)) {
                    shown = try await call(client, .get, "/v1/jobs/\(id)", key: created.secret).1
                    return shown["state"] as? String == "completed"
                }
                let jobTokens = try #require((shown["result"] as? [String: Any])?["prompt_tokens"] as? Int)
                #expect(try await store.rateCounters.counted(in: month) == Int64(jobTokens), "the job's tokens, counted as the key's")
                // (Its minute may have turned while it ran: the current one holds the rest.)
                #expect(try await store.rateCounters.counted(in: minute) <= Int64(jobTokens))

                // Past the key's monthly quota the attempt fails, to be retried; what it counted is given back (its
                // retry computes it again): its first chunk of 64 texts of 100 fits in the quota left, not the second.
                let quotaLeft = Int64(jobTokens) * 8 / 10
                try await store.keys.setLimits(Limits(monthlyTokens: Int64(jobTokens) + quotaLeft), forKey: created.key.id)
                let (_, second) = try await call(
                    client, .post, "/v1/jobs", key: created.secret, body: #"{"kind":"embeddings","input":\#(input)}"#)
                let secondID = try #require(second["id"] as? String)
                try await eventually(within: .seconds(60), every: .milliseconds(100)) {
                    shown = try await call(client, .get, "/v1/jobs/\(secondID)", key: created.secret).1
                    return shown["state"] as? String == "retryable"
                }
                let message = ((shown["errors"] as? [[String: Any]])?.first?["message"] as? String) ?? ""
                #expect(message.contains("quota"), "\(shown)")
                let counted = try await store.rateCounters.counted(in: month)
                #expect(counted == Int64(jobTokens), "\(counted) of \(jobTokens)")
            }

            // A per-minute limit is waited out, slice by slice, rather than failing the work; work that is
            // then not done gives back what it counted.
            let limiter = RateLimiter(store: store)
            let slow = Identity(teamID: team.id, keyID: nil, keyLimits: .none, teamLimits: Limits(tokensPerMinute: 10))
            let teamMinute = try #require(slow.rateWindows.first)
            let waiting = Task { try await limiter.admitWork(slow, tokens: 25) }
            try await eventually(within: .seconds(10), every: .milliseconds(20)) {
                try await store.rateCounters.counted(in: teamMinute) > 0
            }
            try await Task.sleep(for: .milliseconds(300))
            if try await store.rateCounters.counted(in: teamMinute) == 10 {
                waiting.cancel()
                await #expect(throws: CancellationError.self) { try await waiting.value }
                #expect(try await store.rateCounters.counted(in: teamMinute) == 0, "refunded")
            } else {
                // The minute turned while it waited: it went on in the next one.
                _ = try await waiting.value
            }
        }
    }

    @Test(
        "submissions are checked (kind, input, priority), deduplicated by Idempotency-Key, listed page by page, kept within the team, and cancel or retry only where the state allows (409 otherwise)"
    )
    func lifecycle() async throws {
        try await TestDatabase.withTeams(.sqlite) { store, team, other in
            let key = try await store.keys.create(name: "k", teamID: team.id, scopes: [.jobs]).secret
            let stranger = try await store.keys.create(name: "s", teamID: other.id, scopes: [.jobs]).secret
            let embeddingsOnly = try await store.keys.create(name: "e", teamID: team.id, scopes: [.embeddings]).secret
            let app = try TestServer.authenticatedApplication(store: store) { $0.jobs.maxWaitingPerTeam = 5 }
            try await app.test(.router) { client in
                #expect(
                    try await call(client, .post, "/v1/jobs", key: embeddingsOnly, body: #"{"kind":"embeddings","input":{}}"#).0.status
                        == .forbidden)
                for (body, code) in [
                    (#"{"kind":"mining","input":{}}"#, "unknown_job_kind"), (#"{"kind":"embeddings"}"#, "missing_input"),
                    (#"{"kind":"embeddings","input":{"input":[]}}"#, "invalid_value"),
                    (#"{"kind":"embeddings","input":{"input":["a"]},"priority":12}"#, "invalid_value"),
                    (#"{"kind":"embeddings","input":{"input":["a"],"model":"nope"}}"#, "model_not_found"),
                    (#"{"kind":"embeddings","input":{"input":["a"]},"queue":"nowhere"}"#, "unknown_queue"),
                    (#"{"kind":"embeddings","input":{"input":["a"]},"run_at":1e300}"#, "invalid_value"),
                ] {
                    let (response, json) = try await call(client, .post, "/v1/jobs", key: key, body: body)
                    #expect(response.status.code / 100 == 4 && (json["error"] as? [String: Any])?["code"] as? String == code, "\(body)")
                }

                // Scheduled for later, so nothing runs during the test.
                let later = Date().timeIntervalSince1970 + 3600
                let body = #"{"kind":"embeddings","input":{"input":["one"]},"run_at":\#(later)}"#
                let (first, job) = try await call(client, .post, "/v1/jobs", key: key, body: body, headers: [.idempotencyKey: "order-1"])
                let (again, same) = try await call(client, .post, "/v1/jobs", key: key, body: body, headers: [.idempotencyKey: "order-1"])
                #expect(first.status == .accepted && again.status == .ok && again.headers[.idempotentReplayed] == "true")
                #expect(same["id"] as? String == job["id"] as? String && job["state"] as? String == "scheduled")
                let reused = try await call(
                    client, .post, "/v1/jobs", key: key, body: #"{"kind":"embeddings","input":{"input":["two"]}}"#,
                    headers: [.idempotencyKey: "order-1"])
                #expect(reused.0.status == .unprocessableContent)
                let id = try #require(job["id"] as? String)

                #expect(try await call(client, .get, "/v1/jobs/\(id)", key: stranger).0.status == .notFound)
                #expect(try await call(client, .post, "/v1/jobs/\(id)/cancel", key: stranger).0.status == .notFound)
                for index in 0..<3 {
                    _ = try await call(
                        client, .post, "/v1/jobs", key: key,
                        body: #"{"kind":"embeddings","input":{"input":["\#(index)"]},"run_at":\#(later)}"#)
                }
                let page = try await call(client, .get, "/v1/jobs?limit=3", key: key).1
                #expect((page["data"] as? [[String: Any]])?.count == 3 && page["has_more"] as? Bool == true)
                let rest = try await call(client, .get, "/v1/jobs?limit=3&after=\(page["last_id"] as? String ?? "")", key: key).1
                #expect((rest["data"] as? [[String: Any]])?.map { $0["id"] as? String } == [id] && rest["has_more"] as? Bool == false)
                #expect(try await call(client, .get, "/v1/jobs?state=bogus", key: key).0.status == .badRequest)

                // Four wait; the bound is five per team and queue.
                let later5 = #"{"kind":"embeddings","input":{"input":["5"]},"run_at":\#(later)}"#
                #expect(try await call(client, .post, "/v1/jobs", key: key, body: later5).0.status == .accepted)
                let (full, fullError) = try await call(client, .post, "/v1/jobs", key: key, body: later5)
                #expect(full.status == .tooManyRequests && full.headers[.retryAfter] != nil)
                #expect((fullError["error"] as? [String: Any])?["code"] as? String == "job_queue_full")
                #expect(
                    try await call(client, .post, "/v1/jobs", key: key, body: body, headers: [.idempotencyKey: "order-1"]).0.status == .ok)
                #expect(
                    try await call(client, .post, "/v1/jobs", key: stranger, body: later5).0.status == .accepted, "another team's own bound"
                )

                let (cancelled, cancelledJob) = try await call(client, .post, "/v1/jobs/\(id)/cancel", key: key)
                #expect(cancelled.status == .ok && cancelledJob["state"] as? String == "cancelled")
                let (again409, conflict) = try await call(client, .post, "/v1/jobs/\(id)/cancel", key: key)
                #expect(again409.status == .conflict && (conflict["error"] as? [String: Any])?["code"] as? String == "invalid_job_state")
                #expect(try await call(client, .get, "/v1/jobs/\(id)/output", key: key).0.status == .conflict)
                let (retried, retriedJob) = try await call(client, .post, "/v1/jobs/\(id)/retry", key: key)
                #expect(retried.status == .ok && retriedJob["state"] as? String == "available")
            }
        }
    }
}
