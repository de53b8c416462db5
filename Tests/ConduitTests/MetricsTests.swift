import ConduitTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ModelRuntime
import NIOCore
import Store
import Testing

@testable import Conduit
@testable import ConduitCore
@testable import ConduitEmbeddings

@Suite("Prometheus metrics")
struct MetricsTests {
    @Test(
        "/metrics and /v1/admin/debug need the operator scope, which a team's admin lacks and cannot grant; metrics count requests, batches and refusals, with no key, user or text in them"
    )
    func exposition() async throws {
        try await TestDatabase.withTeam(.sqlite) { store, team in
            let admin = try await store.keys.create(name: "admin", teamID: team.id, scopes: [.admin, .operator])
            let teamAdmin = try await store.keys.create(name: "team admin", teamID: team.id, scopes: Scope.teamScopes)
            let caller = try await store.keys.create(name: "caller", teamID: team.id, scopes: [.embeddings])
            let victim = try await store.keys.create(name: "victim", teamID: team.id, scopes: [.embeddings])
            try await store.keys.setLimits(Limits(requestsPerMinute: 1), forKey: caller.key.id)
            try await startEarlyInAMinute()
            let text = "a sentence nobody should find in a metric"
            let app = try TestServer.authenticatedApplication(store: store) {
                $0.server.latencyObjectives = ["/v1/embeddings": .seconds(60), "/v1/admin/keys/{id}": .nanoseconds(1)]
                $0.usage.prices = ["all-MiniLM-L6-v2": 20_000]
            }
            try await app.test(.router) { client in
                func call(_ uri: String, _ method: HTTPRequest.Method, key: String?, body: String? = nil) async throws -> TestResponse {
                    var headers: HTTPFields = [.contentType: "application/json"]
                    if let key { headers[.authorization] = "Bearer \(key)" }
                    return try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
                }
                let input = #"{"input":"\#(text)"}"#
                #expect(try await call("/v1/embeddings", .post, key: caller.secret, body: input).status == .ok)
                #expect(try await call("/v1/embeddings", .post, key: caller.secret, body: input).status == .tooManyRequests)
                #expect(try await call("/v1/admin/keys/\(victim.key.id)", .delete, key: admin.secret).status.code < 300)
                #expect(try await call("/no/such/\(caller.secret)", .get, key: admin.secret).status == .notFound)

                #expect(try await call("/metrics", .get, key: nil).status == .unauthorized)
                #expect(try await call("/metrics", .get, key: caller.secret).status == .forbidden)
                #expect(try await call("/metrics", .get, key: teamAdmin.secret).status == .forbidden)
                #expect(try await call("/v1/admin/debug", .get, key: teamAdmin.secret).status == .forbidden)
                let escalation = try await call(
                    "/v1/admin/keys", .post, key: teamAdmin.secret, body: #"{"name":"x","scopes":["operator"]}"#)
                #expect(escalation.status == .forbidden)
                let response = try await call("/metrics", .get, key: admin.secret)
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
                let body = String(buffer: response.body)
                for line in [
                    #"conduit_http_requests_total{route="/v1/embeddings",method="POST",status="200"} 1"#,
                    #"conduit_http_requests_total{route="/v1/embeddings",method="POST",status="429"} 1"#,
                    #"conduit_http_requests_total{route="/v1/admin/keys/{id}",method="DELETE",status="#,
                    #"conduit_http_requests_total{route="NotFound",method="GET",status="404"} 1"#,
                    #"conduit_rate_limit_refusals_total{code="rate_limit_exceeded"} 1"#,
                    // A refusal is fast and not the server's fault: good. Nothing is done in a nanosecond: bad.
                    #"conduit_slo_requests_total{route="/v1/embeddings",outcome="good"} 2"#,
                    #"conduit_slo_requests_total{route="/v1/admin/keys/{id}",outcome="bad"} 1"#,
                    #"conduit_embedding_batch_sequences_count 1"#,
                    #"conduit_embedding_forward_seconds_count 1"#,
                    #"conduit_embedding_queue_wait_seconds_count 1"#,
                    // 10 tokens with [CLS] and [SEP], at $20,000 per million.
                    #"conduit_usage_tokens_total{model="all-MiniLM-L6-v2"} 10"#,
                    #"conduit_usage_cost_usd_total{model="all-MiniLM-L6-v2"} 0.2"#,
                ] {
                    #expect(body.contains(line), "\(line)")
                }
                #expect(body.contains("process_resident_memory_bytes "))
                for secret in [admin.secret, caller.secret, victim.key.id, caller.key.id, admin.key.id, text] {
                    #expect(!body.contains(secret))
                }

                #expect(try await call("/v1/admin/debug", .get, key: caller.secret).status == .forbidden)
                // A team's admin cannot take an operator key over by rotating it, or revoke it.
                #expect(try await call("/v1/admin/keys/\(admin.key.id)/rotate", .post, key: teamAdmin.secret).status == .forbidden)
                #expect(try await call("/v1/admin/keys/\(admin.key.id)", .delete, key: teamAdmin.secret).status == .forbidden)
                let debug = try await call("/v1/admin/debug", .get, key: admin.secret)
                let snapshot = try #require(try JSONSerialization.jsonObject(with: Data(debug.body.readableBytesView)) as? [String: Any])
                let model = try #require((snapshot["models"] as? [[String: Any]])?.first)
                #expect(model["name"] as? String == "all-MiniLM-L6-v2" && model["dimensions"] as? Int == 384)
                #expect(model["batches"] as? Int == 1 && model["sequences"] as? Int == 1 && model["queued_requests"] as? Int == 0)
                // What the model computes on: the kernel chosen at start, the CPU and its features, no BLAS.
                let compute = try #require(model["compute"] as? [String: Any])
                #expect(compute["kernel"] as? String == Kernel.best.rawValue && compute["blas"] as? String == "none")
                #expect(compute["precision"] as? String == "fp32")
                #expect((compute["cpu_features"] as? [String])?.contains("avx2") == Kernel.avx2.runsHere)
                #expect((compute["cpu"] as? String)?.isEmpty == false && compute["threads"] as? Int ?? 0 >= 1)
                #expect((snapshot["resident_memory_bytes"] as? Int ?? 0) > 10_000_000)
                #expect((snapshot["scheduler"] as? [String: Any])?["max_batch_tokens"] as? Int == 2048)
            }
        }
    }

    @Test("a latency objective needs a route template and a positive duration")
    func objectiveValidation() throws {
        for objectives: [String: Duration] in [["v1/embeddings": .seconds(1)], ["/v1/embeddings": .zero]] {
            var configuration = ServerConfiguration()
            configuration.server.latencyObjectives = objectives
            #expect(throws: ConfigurationError.self) { try configuration.validate() }
        }
        var configuration = ServerConfiguration()
        configuration.server.latencyObjectives = ["/v1/embeddings": .milliseconds(200)]
        try configuration.validate()
    }

    @Test("the Grafana dashboard and the Prometheus alert rules query only metrics docs/metrics.md lists; every panel has a query")
    func dashboardAndAlertsUseDocumentedMetrics() throws {
        let root = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "../..")
        let documentation = try String(contentsOf: root.appending(path: "docs/metrics.md"), encoding: .utf8)
        let documented = Set(documentation.matches(of: #/^\| `([a-z_]+)`/#.anchorsMatchLineEndings()).map { String($0.output.1) })

        let dashboard = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: root.appending(path: "deploy/grafana/conduit-dashboard.json")))
                as? [String: Any])
        let panels = try #require(dashboard["panels"] as? [[String: Any]])
        let ids = panels.compactMap { $0["id"] as? Int }
        #expect(ids.count == panels.count && Set(ids).count == ids.count, "every panel needs an id of its own")
        var queries: [String] = []
        for panel in panels where panel["type"] as? String != "row" {
            let expressions = (panel["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String }
            #expect(!expressions.isEmpty, "panel \(panel["title"] ?? "?") has no query")
            queries += expressions
        }
        queries.append(try String(contentsOf: root.appending(path: "deploy/prometheus/conduit-alerts.yml"), encoding: .utf8))

        var queried: Set<String> = []
        for query in queries {
            for match in query.matches(of: #/\b(?:conduit|process)_[a-z_]+/#) {
                let name = String(match.output)
                // A histogram is queried through its series: name_bucket, name_sum, name_count.
                let base = ["_bucket", "_sum", "_count"].lazy.filter { name.hasSuffix($0) }
                    .map { String(name.dropLast($0.count)) }.first { documented.contains($0) }
                queried.insert(base ?? name)
            }
        }
        #expect(queried.count >= 10)
        #expect(queried.subtracting(documented).isEmpty, "queried but not in docs/metrics.md: \(queried.subtracting(documented).sorted())")
    }
}
