import ConduitTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing

@testable import ConduitCore

/// `conduit serve` exporting spans to an OpenTelemetry collector played by the test (OTLP/HTTP, JSON).
extension EndToEnd {
    @Suite("Tracing")
    struct TracingTests {
        /// One span as OTLP's JSON encoding carries it (ids in base64, times as decimal strings).
        struct Span {
            let name: String
            let traceID: String
            let spanID: String
            let parentID: String?
            let kind: Int
            let start: UInt64
            let end: UInt64
            let attributes: [String: String]

            init(_ json: [String: Any]) {
                name = json["name"] as? String ?? ""
                traceID = Self.hex(json["traceId"])
                spanID = Self.hex(json["spanId"])
                let parent = Self.hex(json["parentSpanId"])
                parentID = parent.isEmpty ? nil : parent
                kind = json["kind"] as? Int ?? 0
                start = UInt64(json["startTimeUnixNano"] as? String ?? "") ?? 0
                end = UInt64(json["endTimeUnixNano"] as? String ?? "") ?? 0
                var attributes: [String: String] = [:]
                for attribute in json["attributes"] as? [[String: Any]] ?? [] {
                    guard let key = attribute["key"] as? String, let value = (attribute["value"] as? [String: Any])?.values.first else {
                        continue
                    }
                    attributes[key] = "\(value)"
                }
                self.attributes = attributes
            }

            private static func hex(_ value: Any?) -> String {
                guard let text = value as? String, let bytes = Data(base64Encoded: text) else { return "" }
                return bytes.map { String(format: "%02x", $0) }.joined()
            }
        }

        /// What the collector received.
        final class Collector: Sendable {
            private let spans = Mutex<[Span]>([])

            func receive(_ body: Data) {
                guard let export = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else { return }
                let received = (export["resourceSpans"] as? [[String: Any]] ?? []).flatMap { resource in
                    (resource["scopeSpans"] as? [[String: Any]] ?? []).flatMap { scope in
                        (scope["spans"] as? [[String: Any]] ?? []).map(Span.init)
                    }
                }
                spans.withLock { $0.append(contentsOf: received) }
            }

            func trace(_ id: String) -> [Span] { spans.withLock { $0.filter { $0.traceID == id } } }
            var all: [Span] { spans.withLock { $0 } }
        }

        @Test(
            "a request's spans reach the OTLP collector in the client's trace: the server span under the client's, and under it authentication (with its database calls), tokenization, admission and the embedding, which holds the queue wait and the forward pass"
        )
        func spansReachTheCollector() async throws {
            let model = try #require(TestModel.directory)
            let collector = Collector()
            let router = Router()
            router.post("/v1/traces") { request, _ -> Response in
                collector.receive(Data(try await request.body.collect(upTo: 16 << 20).readableBytesView))
                return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: .init(string: "{}")))
            }
            // The same server plays the upstream of an llm: pipeline, keeping the traceparent of each call.
            let upstreamTraceparents = Mutex<[String]>([])
            router.post("/v1/chat/completions") { request, _ -> Response in
                upstreamTraceparents.withLock { $0.append(request.headers[HTTPField.Name("traceparent")!] ?? "") }
                let content = #"{\"sentiment\":\"neutral\",\"topics\":[],\"key_phrases\":[],\"summary\":\"s\",\"confidence\":0.5}"#
                return Response(
                    status: .ok, headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: .init(string: #"{"choices":[{"message":{"role":"assistant","content":"\#(content)"}}]}"#)))
            }
            // And the receiver of a webhook.
            let webhookTraceparents = Mutex<[String]>([])
            router.post("/hook") { request, _ -> Response in
                webhookTraceparents.withLock { $0.append(request.headers[HTTPField.Name("traceparent")!] ?? "") }
                return Response(status: .noContent)
            }
            let receiver = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            try await receiver.test(.live) { client in
                let folder = FileManager.default.temporaryDirectory.appending(path: "conduit-tracing-\(UUID().uuidString)")
                let created = try CommandLineTests().run(
                    ["keys", "create", "--name", "traced", "--data-dir", folder.path]
                        + ["embeddings", "jobs", "insights", "admin"].flatMap { ["--scope", $0] })
                let key = try #require(created.output.split(separator: "\n").last.map(String.init))
                let port = try await LiveServer.freePorts(1)[0]
                let config = folder.appending(path: "conduit.yaml")
                let pipelines = folder.appending(path: "pipelines")
                try FileManager.default.createDirectory(at: pipelines, withIntermediateDirectories: true)
                try """
                analyzer: llm:traced-model
                sentiment: {positive: "happy", negative: "unhappy", neutral: "plain"}
                cache: {exact: false, semantic_threshold: }
                """.write(to: pipelines.appending(path: "traced.yaml"), atomically: true, encoding: .utf8)
                let models = folder.appending(path: "models.yaml")
                try """
                models:
                  - name: traced-model
                    deployments:
                      - name: traced
                        base_url: http://127.0.0.1:\(client.port!)/v1
                        model: traced-model
                """.write(to: models, atomically: true, encoding: .utf8)
                try """
                tracing:
                  otlp_endpoint: http://127.0.0.1:\(client.port!)
                  otlp_protocol: http/json
                  service_name: conduit-under-test
                chat:
                  models_file: \(models.path)
                insights:
                  pipelines_dir: \(pipelines.path)
                webhooks:
                  allow_private_addresses: true
                """.write(to: config, atomically: true, encoding: .utf8)
                let log = folder.appending(path: "log.jsonl")
                // OTEL_BSP_SCHEDULE_DELAY, the OpenTelemetry SDK's own variable: export every 100 ms instead of every 5 s.
                let process = try LiveServer.start(
                    [
                        "serve", "--auth", "--port", "\(port)", "--config", config.path, "--model-dir", model.path, "--data-dir",
                        folder.path,
                    ],
                    log: log, environment: ["OTEL_BSP_SCHEDULE_DELAY": "100"])
                defer {
                    process.terminate()
                    process.waitUntilExit()
                }
                try #require(await LiveServer.isReady(port: port))

                let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
                let callerSpan = "00f067aa0ba902b7"
                let answer = try await RawHTTP.exchange(
                    port: port,
                    send: RawHTTP.request(
                        "POST", "/v1/embeddings",
                        headers: [
                            "Authorization": "Bearer \(key)", "Content-Type": "application/json",
                            "traceparent": "00-\(traceID)-\(callerSpan)-01",
                        ], body: #"{"input":"a traced sentence"}"#), wait: .seconds(10))
                #expect(answer.bytes.hasPrefix("HTTP/1.1 200"), "\(answer.bytes.prefix(300))")
                let requestID = try #require(RawHTTP.header("x-request-id", in: answer.bytes))

                var spans: [Span] = []
                let deadline = ContinuousClock.now + .seconds(20)  // each later trace has 20 s more from here
                try await eventually(within: .seconds(20), every: .milliseconds(100)) {
                    spans = collector.trace(traceID)
                    return ["/v1/embeddings", "forward"].allSatisfy { name in spans.contains { $0.name == name } }
                }
                let server = try #require(spans.first { $0.name == "/v1/embeddings" }, "spans received: \(spans.map(\.name))")
                #expect(server.parentID == callerSpan && server.kind == 2)
                #expect(server.attributes["http.response.status_code"] == "200")
                #expect(server.attributes.values.contains(requestID), "the request id links the trace to the log")

                func children(of parent: Span) -> [String: Span] {
                    Dictionary(spans.filter { $0.parentID == parent.spanID }.map { ($0.name, $0) }) { first, _ in first }
                }
                let steps = children(of: server)
                #expect(Set(steps.keys).isSuperset(of: ["authenticate", "tokenize", "admission", "embed"]), "\(steps.keys.sorted())")
                let authenticate = try #require(steps["authenticate"])
                let databaseCalls = spans.filter { $0.parentID == authenticate.spanID && $0.name.hasPrefix("db ") }
                #expect(!databaseCalls.isEmpty && databaseCalls.allSatisfy { $0.attributes["db.system.name"] == "sqlite" && $0.kind == 3 })
                #expect(steps["tokenize"]?.attributes["conduit.tokens"].flatMap(Int.init) ?? 0 > 2)

                let embed = try #require(steps["embed"])
                let inside = children(of: embed)
                let wait = try #require(inside["queue wait"])
                let forward = try #require(inside["forward"])
                #expect(forward.attributes["conduit.batch.sequences"] == "1")
                // The scheduler's monotonic instants, placed on the wall clock: in order, and within the embed span
                // (give or take the microsecond of the conversion).
                let slack: UInt64 = 1_000_000
                #expect(wait.start + slack >= embed.start && wait.end <= forward.start + slack && forward.end <= embed.end + slack)
                #expect(embed.end <= server.end && server.start <= steps["tokenize"]!.start)

                // A job carries the trace of the request that submitted it across the queue.
                let jobTrace = "0af7651916cd43dd8448eb211c80319c"
                let submitted = try await RawHTTP.exchange(
                    port: port,
                    send: RawHTTP.request(
                        "POST", "/v1/jobs",
                        headers: ["Authorization": "Bearer \(key)", "traceparent": "00-\(jobTrace)-b7ad6b7169203331-01"],
                        body: #"{"kind":"embeddings","input":{"input":["a job in the trace"]}}"#), wait: .seconds(10))
                #expect(submitted.bytes.hasPrefix("HTTP/1.1 202"), "\(submitted.bytes.prefix(300))")
                var jobSpans: [Span] = []
                try await eventually(within: deadline + .seconds(20) - ContinuousClock.now, every: .milliseconds(100)) {
                    jobSpans = collector.trace(jobTrace)
                    return jobSpans.contains { $0.name == "job embeddings" }
                }
                let submission = try #require(jobSpans.first { $0.name == "/v1/jobs" }, "\(jobSpans.map(\.name))")
                let attempt = try #require(jobSpans.first { $0.name == "job embeddings" })
                #expect(attempt.parentID == submission.spanID && attempt.kind == 5 && attempt.attributes["conduit.job.attempt"] == "1")

                // A conversation's analysis calls the gateway's model inside its job's span (a GenAI client span
                // for the attempt, the HTTP call under it), and passes the trace on, as
                // the delivery of the insight's event to a webhook does.
                let registered = try await RawHTTP.exchange(
                    port: port,
                    send: RawHTTP.request(
                        "POST", "/v1/webhooks", headers: ["Authorization": "Bearer \(key)", "Content-Type": "application/json"],
                        body: #"{"url":"http://127.0.0.1:\#(client.port!)/hook","topics":["insight.created"]}"#), wait: .seconds(10))
                #expect(registered.bytes.hasPrefix("HTTP/1.1 201"), "\(registered.bytes.prefix(300))")
                let conversationTrace = "5b8aa5a2d2c872e8321cf37308d69df2"
                let conversation = try await RawHTTP.exchange(
                    port: port,
                    send: RawHTTP.request(
                        "POST", "/v1/conversations",
                        headers: [
                            "Authorization": "Bearer \(key)", "Content-Type": "application/json",
                            "traceparent": "00-\(conversationTrace)-051581bf3cb55c13-01",
                        ],
                        body: #"{"pipeline":"traced","messages":[{"role":"user","content":"Where is my order? It has not arrived yet."}]}"#),
                    wait: .seconds(10))
                #expect(conversation.bytes.hasPrefix("HTTP/1.1 202"), "\(conversation.bytes.prefix(300))")
                var conversationSpans: [Span] = []
                try await eventually(within: deadline + .seconds(40) - ContinuousClock.now, every: .milliseconds(100)) {
                    conversationSpans = collector.trace(conversationTrace)
                    return conversationSpans.filter { $0.kind == 3 && $0.name == "POST" }.count == 2
                }
                let analysis = try #require(conversationSpans.first { $0.name == "job insights" }, "\(conversationSpans.map(\.name))")
                #expect(analysis.parentID == conversationSpans.first { $0.name == "/v1/conversations" }?.spanID)
                let upstreamCall = try #require(
                    conversationSpans.first { $0.kind == 3 && $0.name == "POST" && $0.attributes["url.path"] == "/v1/chat/completions" })
                let call = try #require(conversationSpans.first { $0.name == "chat traced-model" }, "\(conversationSpans.map(\.name))")
                #expect(call.parentID == analysis.spanID && call.kind == 3 && call.attributes["conduit.deployment"] == "traced")
                #expect(upstreamCall.parentID == call.spanID, "\(upstreamCall.attributes)")
                #expect(
                    upstreamTraceparents.withLock { $0 } == ["00-\(conversationTrace)-\(upstreamCall.spanID)-01"],
                    "the upstream is called with the trace and the client span as parent")
                let delivery = try #require(conversationSpans.first { $0.name == "job webhook" }, "\(conversationSpans.map(\.name))")
                #expect(delivery.parentID == analysis.spanID, "the delivery job was made inside the analysis")
                let webhookCall = try #require(conversationSpans.first { $0.kind == 3 && $0.attributes["url.path"] == "/hook" })
                #expect(webhookCall.parentID == delivery.spanID)
                #expect(
                    webhookTraceparents.withLock { $0 } == ["00-\(conversationTrace)-\(webhookCall.spanID)-01"],
                    "the webhook receiver gets the trace and the client span as parent")

                // The usage batch written after the request (once a second) is background work: no trace of its own.
                try await Task.sleep(for: .milliseconds(1500))
                #expect(!collector.all.contains { $0.name.hasPrefix("db ") && $0.parentID == nil })

                let accessLine = try String(contentsOf: log, encoding: .utf8).split(separator: "\n")
                    .first { $0.contains(#""message":"request""#) && $0.contains(requestID) }
                #expect(
                    accessLine?.contains(#""trace_id":"\#(traceID)""#) == true,
                    "the access log line names the trace: \(accessLine ?? "none")")
            }
        }
    }
}
