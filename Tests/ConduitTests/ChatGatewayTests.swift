import AsyncHTTPClient
import Conduit
import ConduitEmbeddings
import ConduitTestSupport
import CoreMetrics
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import InMemoryTracing
import NIOCore
import NIOHTTP1
import NIOPosix
import SQLKit
import Store
import Testing
import Tracing

@testable import ConduitChat
@testable import ConduitCore

/// The chat gateway in front of fake providers that misbehave on command: what the client sees, what
/// each provider was sent, and what was counted.
@Suite("Chat gateway")
struct ChatGatewayTests {
    static func deployment(
        _ name: String, port: Int, weight: Int = 1, timeout: Duration = .seconds(5), contextWindow: Int? = nil, maxConcurrent: Int? = nil
    ) -> GatewayDeployment {
        GatewayDeployment(
            id: name, baseURL: URL(string: "http://127.0.0.1:\(port)/\(name)/v1")!, apiKey: "key-of-\(name)", model: "upstream-\(name)",
            weight: weight, maxConcurrent: maxConcurrent, timeout: timeout, contextWindow: contextWindow)
    }

    /// Runs `body` with Conduit (authentication off) in front of a fake provider, serving the models
    /// `models` makes from the provider's port.
    static func withGateway(
        _ models: @escaping @Sendable (Int) -> [GatewayModel], configure: @escaping @Sendable (inout ChatConfiguration) -> Void = { _ in },
        requestDeadline: Duration? = nil, _ body: @escaping @Sendable (FakeProvider, any TestClientProtocol) async throws -> Void
    ) async throws {
        let provider = FakeProvider()
        try await provider.application().test(.live) { providerClient in
            let (app, _) = try TestServer.application { configuration in
                configuration.chat.models = try! GatewayModelTable(models(providerClient.port!))
                configuration.chat.backoff = .milliseconds(10)
                configuration.chat.maximumBackoff = .milliseconds(300)
                configure(&configuration.chat)
                if let requestDeadline {
                    configuration.server.requestDeadline = requestDeadline
                    configuration.scheduler.requestTimeout = requestDeadline / 2
                }
            }
            try await app.test(.live) { client in try await body(provider, client) }
        }
    }

    static func post(_ client: some TestClientProtocol, _ body: String) async throws -> (TestResponse, [String: Any]) {
        let response = try await client.execute(
            uri: "/v1/chat/completions", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body))
        return (response, (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))) as? [String: Any] ?? [:])
    }

    static func code(_ json: [String: Any]) -> String? { (json["error"] as? [String: Any])?["code"] as? String }
    static func message(_ json: [String: Any]) -> String { (json["error"] as? [String: Any])?["message"] as? String ?? "" }

    static let deploymentHeader = HTTPField.Name("x-conduit-deployment")!
    static let attemptsHeader = HTTPField.Name("x-conduit-attempts")!
    static let fallbackHeader = HTTPField.Name("x-conduit-fallback")!

    @Test(
        "a completion passes through untouched but for the model's name at the provider, with the deployment's key and headers saying what served it"
    )
    func passThrough() async throws {
        try await Self.withGateway({ [GatewayModel(name: "smart", aliases: ["clever"], deployments: [Self.deployment("a", port: $0)])] }) {
            provider, client in
            let request = #"""
                {"model":"clever","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],
                 "temperature":0.5,"seed":7,"n":2,"logprobs":true,"top_logprobs":2,
                 "tools":[{"type":"function","function":{"name":"lookup","parameters":{"type":"object","properties":{"q":{"type":"string"}}}}}],
                 "response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","additionalProperties":false}}},
                 "vendor_extension":{"keep":[1,2.5,"three"]}}
                """#
            let (response, json) = try await Self.post(client, request)
            #expect(response.status == .ok)
            #expect(response.headers[Self.deploymentHeader] == "a" && response.headers[Self.attemptsHeader] == "1")
            #expect(response.headers[Self.fallbackHeader] == nil)
            #expect(json["model"] as? String == "upstream-a")
            #expect(((json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String == "hello there")

            let sent = try #require(provider.calls.first)
            #expect(sent.authorization == "Bearer key-of-a")
            let original = try JSONDecoder().decode([String: JSONValue].self, from: Data(request.utf8))
            var expected = original
            expected["model"] = "upstream-a"
            #expect(sent.body == expected, "everything but the model passes on as it came")
        }
    }

    @Test("bad requests get a 4xx in the error shape, and no provider is called")
    func badRequests() async throws {
        try await Self.withGateway({ [GatewayModel(name: "smart", deployments: [Self.deployment("a", port: $0)])] }) { provider, client in
            let cases: [(String, HTTPResponse.Status, String)] = [
                (#"{"model":"nope","messages":[{"role":"user","content":"hi"}]}"#, .notFound, "model_not_found"),
                (#"{"messages":[{"role":"user","content":"hi"}]}"#, .badRequest, "invalid_value"),
                (#"{"model":"smart","messages":[]}"#, .badRequest, "invalid_value"),
                (#"{"model":"smart","messages":[{"role":"wizard","content":"hi"}]}"#, .badRequest, "invalid_value"),
                (#"{"model":"smart","messages":[{"role":"user","content":"hi"}],"stream":"yes"}"#, .badRequest, "invalid_value"),
                (
                    #"{"model":"smart","messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":true}}"#, .badRequest,
                    "invalid_value"
                ),
                (#"{"model":"smart","messages":[{"role":"user","content":"hi"}],"max_tokens":0}"#, .badRequest, "invalid_value"),
                (#"{"model":"smart","messages":[{"role":"user","content":"hi"}],"n":1000}"#, .badRequest, "invalid_value"),
                (#"{"model":"smart","messages":[{"role":"user","content":"hi"}]"#, .badRequest, "invalid_json"),
                (#"{"model":"smart","model":"x","messages":[{"role":"user","content":"hi"}]}"#, .badRequest, "invalid_json"),
                (#"[{"model":"smart","messages":[{"role":"user","content":"hi"}]}]"#, .badRequest, "invalid_type"),
                ("", .badRequest, "invalid_json"),
            ]
            for (body, status, code) in cases {
                let (response, json) = try await Self.post(client, body)
                #expect(response.status == status && Self.code(json) == code, "\(body): \(response.status) \(json)")
            }
            let large = String(repeating: "x", count: 9 << 20)
            let (tooLarge, _) = try await Self.post(client, #"{"model":"smart","messages":[{"role":"user","content":"\#(large)"}]}"#)
            #expect(tooLarge.status == .contentTooLarge)
            #expect(provider.calls.isEmpty)
        }
    }

    @Test("a 500 is retried on another deployment; an error body is never shown, only the deployment, its status and code")
    func retriesAndErrors() async throws {
        try await Self.withGateway({
            [
                GatewayModel(
                    name: "smart", routing: .leastOutstanding,
                    deployments: [Self.deployment("a", port: $0, weight: 2), Self.deployment("b", port: $0)]),
                // Port 9 (discard) has no listener on loopback: the connection is refused.
                GatewayModel(
                    name: "dead-first", routing: .leastOutstanding,
                    deployments: [Self.deployment("dead", port: 9, weight: 2), Self.deployment("b2", port: $0)]),
            ]
        }) { provider, client in
            provider.script("a", [.status(500)])
            let (response, _) = try await Self.post(client, #"{"model":"smart","messages":[{"role":"user","content":"hi"}]}"#)
            #expect(
                response.status == .ok && response.headers[Self.deploymentHeader] == "b" && response.headers[Self.attemptsHeader] == "2")

            // Counted per deployment: the failed attempt, the retry, the tokens of the one that served.
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            for line in [
                #"conduit_chat_attempts_total{deployment="a",outcome="server_error"} 1"#,
                #"conduit_chat_attempts_total{deployment="b",outcome="success"} 1"#, #"conduit_chat_retries_total{model="smart"} 1"#,
                #"conduit_chat_tokens_total{deployment="b",type="prompt"} 100"#,
            ] {
                #expect(metrics.contains(line), "\(line)")
            }

            // A deployment nothing listens at: the call moves on at once, not after a connect timeout.
            let started = ContinuousClock.now
            let (skipped, _) = try await Self.post(client, #"{"model":"dead-first","messages":[{"role":"user","content":"hi"}]}"#)
            #expect(skipped.status == .ok && skipped.headers[Self.deploymentHeader] == "b2" && skipped.headers[Self.attemptsHeader] == "2")
            // Well within the 10 s a connection is given: it was not retried until then.
            #expect(ContinuousClock.now - started < .seconds(8))

            // Both fail every time: the last failure is told, not the provider's body (which quotes a key).
            let leak =
                #"{"error":{"message":"Incorrect API key provided: sk-live-123456","type":"invalid_request_error","code":"invalid_api_key"}}"#
            provider.script("a", Array(repeating: .status(503, body: leak), count: 5))
            provider.script("b", Array(repeating: .status(503, body: leak), count: 5))
            let (failed, json) = try await Self.post(client, #"{"model":"smart","messages":[{"role":"user","content":"hi"}]}"#)
            #expect(failed.status == .badGateway && Self.code(json) == "upstream_error")
            #expect(Self.message(json).contains("answered 503 (invalid_api_key)") && Self.message(json).contains("3 attempts"), "\(json)")
            #expect(!String(buffer: failed.body).contains("sk-live"))

            // The provider refuses the request itself: not retried, shown as a 400 naming the deployment.
            provider.script("a", [.status(400, body: #"{"error":{"message":"bad","code":"invalid_value"}}"#)])
            provider.script("b", [.status(400, body: #"{"error":{"message":"bad","code":"invalid_value"}}"#)])
            let before = provider.calls.count
            let (rejected, refusal) = try await Self.post(client, #"{"model":"smart","messages":[{"role":"user","content":"hi"}]}"#)
            #expect(rejected.status == .badRequest && Self.code(refusal) == "upstream_rejected_request")
            #expect(provider.calls.count == before + 1)
        }
    }

    @Test("a 429's Retry-After is honoured: the deployment is not called again before it")
    func retryAfter() async throws {
        try await Self.withGateway({ [GatewayModel(name: "smart", deployments: [Self.deployment("a", port: $0)])] }) { provider, client in
            provider.script("a", [.status(429, headers: ["retry-after-ms": "250"])])
            let started = ContinuousClock.now
            let (response, _) = try await Self.post(client, #"{"model":"smart","messages":[{"role":"user","content":"hi"}]}"#)
            #expect(response.status == .ok && response.headers[Self.attemptsHeader] == "2")
            #expect(ContinuousClock.now - started >= .milliseconds(250))

            // Longer than the longest backoff: the call does not wait, and the client is told when to come back.
            provider.script("a", [.status(429, headers: ["retry-after": "30"])])
            let (limited, json) = try await Self.post(client, #"{"model":"smart","messages":[{"role":"user","content":"hi"}]}"#)
            #expect(limited.status == .tooManyRequests && Self.code(json) == "upstream_rate_limited")
            #expect(limited.headers[.retryAfter] == "30")
        }
    }

    @Test("fallbacks: a model's failures and a prompt longer than its context window go to the next model, the second without calling it")
    func fallbacks() async throws {
        try await Self.withGateway({
            [
                GatewayModel(name: "small", fallbacks: ["big"], deployments: [Self.deployment("s", port: $0, contextWindow: 100)]),
                GatewayModel(name: "big", deployments: [Self.deployment("b", port: $0, contextWindow: 100_000)]),
            ]
        }) { provider, client in
            let long = String(repeating: "word ", count: 200)
            let (response, _) = try await Self.post(client, #"{"model":"small","messages":[{"role":"user","content":"\#(long)"}]}"#)
            #expect(
                response.status == .ok && response.headers[Self.fallbackHeader] == "big" && response.headers[Self.deploymentHeader] == "b")
            #expect(provider.calls(to: "s").isEmpty, "too long for its window: never called")

            provider.script("s", Array(repeating: .status(502), count: 3))
            let (failedOver, _) = try await Self.post(client, #"{"model":"small","messages":[{"role":"user","content":"hi"}]}"#)
            #expect(failedOver.status == .ok && failedOver.headers[Self.fallbackHeader] == "big")
            #expect(failedOver.headers[Self.attemptsHeader] == "4", "three at small (one try and two retries), then big")

            let huge = String(repeating: "word ", count: 100_000)
            let (tooLong, json) = try await Self.post(client, #"{"model":"small","messages":[{"role":"user","content":"\#(huge)"}]}"#)
            #expect(tooLong.status == .badRequest && Self.code(json) == "context_length_exceeded")
        }
    }

    @Test("a deployment that keeps failing is skipped while its circuit is open: calls get 503 with Retry-After and reach no provider")
    func circuitBreaker() async throws {
        try await Self.withGateway(
            { [GatewayModel(name: "smart", deployments: [Self.deployment("a", port: $0)])] },
            configure: {
                $0.maxRetries = 0
                $0.circuitFailures = 2
                $0.circuitCooldown = .seconds(30)
                $0.maximumBackoff = .milliseconds(10)
            }
        ) { provider, client in
            provider.script("a", [.status(500), .status(500)])
            for _ in 0..<2 {
                #expect(
                    try await Self.post(client, #"{"model":"smart","messages":[{"role":"user","content":"hi"}]}"#).0.status == .badGateway)
            }
            let (open, json) = try await Self.post(client, #"{"model":"smart","messages":[{"role":"user","content":"hi"}]}"#)
            #expect(open.status == .serviceUnavailable && Self.code(json) == "upstream_unavailable")
            #expect(Int(open.headers[.retryAfter] ?? "") ?? 0 > 20, "about the cooldown's 30 s")
            #expect(provider.calls.count == 2, "an open circuit calls nobody")
        }
    }

    @Test(
        "the circuit, on a clock moved by hand: opens at the threshold, lets one trial through after the cooldown (an older call ending meanwhile lets no second one through), closes on its success, reopens on its failure"
    )
    func circuitStates() {
        let clock = ManualClock()
        let breaker = CircuitBreaker(now: { clock.now })
        let cooldown = Duration.seconds(30)
        let call = CircuitBreaker.Admission.admitted(isTrial: false)
        let trial = CircuitBreaker.Admission.admitted(isTrial: true)
        for _ in 0..<2 {
            #expect(breaker.admit(cooldown: cooldown) == call)
            breaker.record(failed: true, failures: 3, isTrial: false)
        }
        #expect(breaker.state == .closed, "two failures of three")
        // A call admitted now ends later, while the circuit is half-open.
        #expect(breaker.admit(cooldown: cooldown) == call)
        #expect(breaker.admit(cooldown: cooldown) == call)
        breaker.record(failed: true, failures: 3, isTrial: false)
        #expect(breaker.state == .open && breaker.admit(cooldown: cooldown) == .refused(retryAfter: .seconds(30)))
        clock.advance(by: .seconds(10))
        #expect(breaker.timeUntilTrial(cooldown: cooldown) == .seconds(20))
        #expect(breaker.admit(cooldown: cooldown) == .refused(retryAfter: .seconds(20)))
        clock.advance(by: .seconds(20))
        #expect(breaker.timeUntilTrial(cooldown: cooldown) == nil)
        #expect(breaker.admit(cooldown: cooldown) == trial && breaker.state == .halfOpen, "the trial")
        #expect(breaker.admit(cooldown: cooldown) == .refused(retryAfter: cooldown), "one trial at a time")
        breaker.release(isTrial: false)
        #expect(breaker.admit(cooldown: cooldown) != trial, "the older call's ending lets no second trial through")
        breaker.record(failed: true, failures: 3, isTrial: true)
        #expect(breaker.state == .open, "a failed trial reopens at once")
        clock.advance(by: .seconds(30))
        #expect(breaker.admit(cooldown: cooldown) == trial)
        breaker.release(isTrial: true)
        #expect(breaker.admit(cooldown: cooldown) == trial, "a trial released without a verdict goes to the next call")
        breaker.record(failed: false, failures: 3, isTrial: true)
        #expect(breaker.state == .closed && breaker.admit(cooldown: cooldown) == call)
    }

    @Test("the retry budget bounds retries: with none left, a failure is not retried")
    func retryBudget() async throws {
        try await Self.withGateway(
            { [GatewayModel(name: "smart", deployments: [Self.deployment("a", port: $0)])] },
            configure: {
                $0.retryBudgetPercent = 0
                $0.minimumRetriesInFlight = 0
            }
        ) { provider, client in
            provider.script("a", [.status(500)])
            let (response, json) = try await Self.post(client, #"{"model":"smart","messages":[{"role":"user","content":"hi"}]}"#)
            #expect(response.status == .badGateway && Self.message(json).contains("retry budget"), "\(json)")
            #expect(provider.calls.count == 1)
        }
    }

    @Test("timeouts, invalid JSON and an answer over the limit fail the attempt, and the client gets 504 or 502")
    func misbehaviour() async throws {
        try await Self.withGateway(
            {
                [
                    GatewayModel(name: "slow", deployments: [Self.deployment("s", port: $0, timeout: .milliseconds(300))]),
                    GatewayModel(name: "smart", deployments: [Self.deployment("a", port: $0, timeout: .seconds(20))]),
                ]
            },
            configure: {
                $0.maxRetries = 1
                $0.maxResponseBytes = 64 * 1024
            }
        ) { provider, client in
            provider.script("s", [.delayed(.seconds(3), "late"), .delayed(.seconds(3), "late")])
            let (slow, slowJSON) = try await Self.post(client, #"{"model":"slow","messages":[{"role":"user","content":"hi"}]}"#)
            #expect(slow.status == .gatewayTimeout && Self.code(slowJSON) == "upstream_timeout")

            provider.script("a", [.invalidJSON])
            let (recovered, _) = try await Self.post(client, #"{"model":"smart","messages":[{"role":"user","content":"hi"}]}"#)
            #expect(recovered.status == .ok && recovered.headers[Self.attemptsHeader] == "2", "malformed, then retried")

            provider.script("a", [.invalidJSON, .invalidJSON])
            let (malformed, malformedJSON) = try await Self.post(client, #"{"model":"smart","messages":[{"role":"user","content":"hi"}]}"#)
            #expect(malformed.status == .badGateway && Self.code(malformedJSON) == "upstream_malformed")

            provider.script("a", [.huge(bytes: 200_000)])
            let (huge, hugeJSON) = try await Self.post(client, #"{"model":"smart","messages":[{"role":"user","content":"hi"}]}"#)
            #expect(huge.status == .badGateway && Self.code(hugeJSON) == "upstream_response_too_large", "\(huge.status) \(hugeJSON)")
        }
    }

    @Test("least outstanding sends concurrent calls to the idle deployment; lowest latency prefers the faster one once measured")
    func loadBalancing() async throws {
        try await Self.withGateway({
            [
                GatewayModel(
                    name: "busy", routing: .leastOutstanding, deployments: [Self.deployment("a", port: $0), Self.deployment("b", port: $0)]),
                GatewayModel(
                    name: "quick", routing: .lowestLatency,
                    deployments: [Self.deployment("slow", port: $0), Self.deployment("fast", port: $0)]),
                GatewayModel(
                    name: "shared", deployments: [Self.deployment("heavy", port: $0, weight: 3), Self.deployment("light", port: $0)]),
            ]
        }) { provider, client in
            // Both held by the provider until the test lets them go: the first is in flight when the second is routed.
            provider.script("a", [.held("slow")])
            provider.script("b", [.held("slow")])
            // On connections of their own: the test client sends one request at a time.
            func served() async throws -> String? {
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(client.port!)/v1/chat/completions")
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: #"{"model":"busy","messages":[{"role":"user","content":"one"}]}"#))
                return try await HTTPClient.shared.execute(request, timeout: .seconds(10)).headers.first(name: "x-conduit-deployment")
            }
            async let first = served()
            // The second once the first is at its provider, whatever the machine's load.
            let arrived = try await eventually(within: .seconds(10), every: .milliseconds(5)) { provider.calls.count >= 1 }
            async let second = served()
            let bothArrived = try await eventually(within: .seconds(20), every: .milliseconds(5)) { provider.calls.count >= 2 }
            provider.release()
            let served = try await [first, second]
            #expect(arrived && bothArrived)
            #expect(Set(served.compactMap { $0 }) == ["a", "b"], "\(served)")

            provider.script("slow", Array(repeating: .delayed(.seconds(2), "slow"), count: 20))
            for _ in 0..<2 { _ = try await Self.post(client, #"{"model":"quick","messages":[{"role":"user","content":"hi"}]}"#) }
            for _ in 0..<5 {
                let (response, _) = try await Self.post(client, #"{"model":"quick","messages":[{"role":"user","content":"hi"}]}"#)
                #expect(response.headers[Self.deploymentHeader] == "fast")
            }

            for _ in 0..<80 { _ = try await Self.post(client, #"{"model":"shared","messages":[{"role":"user","content":"hi"}]}"#) }
            let heavy = provider.calls(to: "heavy").count
            #expect((40...75).contains(heavy), "weights 3:1 over 80 calls: \(heavy) to the heavier")
        }
    }

    /// Sends a streaming call on a connection of its own and returns each piece of the answer's body with
    /// when it arrived, and the answer's head.
    static func streamed(
        port: Int, _ body: String, until stop: @Sendable (String) -> Bool = { _ in false }, onFirst: @Sendable () -> Void = {}
    ) async throws -> (HTTPClientResponse, [(ContinuousClock.Instant, String)]) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/chat/completions")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        var pieces: [(ContinuousClock.Instant, String)] = []
        for try await chunk in response.body {
            if pieces.isEmpty { onFirst() }
            pieces.append((.now, String(buffer: chunk)))
            if stop(pieces.map(\.1).joined()) { break }
        }
        return (response, pieces)
    }

    /// The JSON of each `data:` event of a stream (`[DONE]` as the string).
    static func events(_ text: String) -> [Any] {
        text.components(separatedBy: "\n\n").compactMap { event -> Any? in
            guard event.hasPrefix("data: ") else { return nil }
            let payload = String(event.dropFirst(6))
            return payload == "[DONE]" ? payload : try? JSONSerialization.jsonObject(with: Data(payload.utf8))
        }
    }

    @Test("a stream passes through event by event as the provider sends it, ends with [DONE], and carries usage only when the client asked")
    func streaming() async throws {
        try await Self.withGateway({ [GatewayModel(name: "smart", deployments: [Self.deployment("a", port: $0)])] }) { provider, client in
            // The provider holds the rest of its stream until the client has the first event: a gateway that
            // held events back would never pass it on, and the provider would give up waiting.
            provider.script("a", [.heldAfterFirst("one two three")])
            let (response, pieces) = try await Self.streamed(
                port: client.port!, #"{"model":"smart","stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
                onFirst: { provider.release() })
            #expect(response.status == .ok && response.headers.first(name: "content-type") == "text/event-stream")
            #expect(response.headers.first(name: "x-conduit-deployment") == "a")
            #expect(!provider.heldTooLong, "the first event reached the client while the provider held the rest")
            #expect(pieces.first?.1.contains("one ") == true)
            let events = Self.events(pieces.map(\.1).joined())
            #expect(events.last as? String == "[DONE]")
            let chunks = events.compactMap { $0 as? [String: Any] }
            #expect(chunks.count == 3 && chunks.allSatisfy { $0["usage"] == nil }, "the usage chunk the gateway asked for is kept back")
            let sent = try #require(provider.calls.first)
            #expect(sent.body["stream_options"]?.objectValue?["include_usage"] == .bool(true), "asked of the provider to count tokens")

            let (_, withUsage) = try await Self.streamed(
                port: client.port!,
                #"{"model":"smart","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#)
            let usage = Self.events(withUsage.map(\.1).joined()).compactMap { ($0 as? [String: Any])?["usage"] as? [String: Any] }
            #expect(usage.first?["total_tokens"] as? Int == 102)
        }
    }

    @Test(
        "a stream that breaks off, or runs past the total time, ends with an error event; a client that hangs up cancels the provider's stream"
    )
    func brokenStreams() async throws {
        try await Self.withGateway(
            { [GatewayModel(name: "smart", deployments: [Self.deployment("a", port: $0)])] }, configure: { $0.totalTimeout = .seconds(6) }
        ) { provider, client in
            let body = #"{"model":"smart","stream":true,"messages":[{"role":"user","content":"hi"}]}"#
            provider.script("a", [.resetMidStream])
            let (_, broken) = try await Self.streamed(port: client.port!, body)
            let brokenEvents = Self.events(broken.map(\.1).joined())
            #expect((brokenEvents.first as? [String: Any]).map { "\($0)".contains("partial") } == true)
            #expect(
                ((brokenEvents.last as? [String: Any])?["error"] as? [String: Any])?["code"] as? String == "upstream_stream_interrupted")

            provider.script("a", [.endless])
            let started = ContinuousClock.now
            let (_, endless) = try await Self.streamed(port: client.port!, body)
            #expect(ContinuousClock.now - started < .seconds(12))
            let last = Self.events(endless.map(\.1).joined()).last as? [String: Any]
            #expect(Self.message(last ?? [:]).contains("chat.total_timeout_seconds"), "\(String(describing: last))")
            let ended = try await eventually(within: .seconds(5), every: .milliseconds(20)) { provider.abandonedStreams >= 1 }
            #expect(ended, "the provider's stream is closed when the gateway stops reading it")

            // The client reads one event and hangs up: the provider's stream is closed within moments.
            provider.script("a", [.endless])
            _ = try await Self.streamed(port: client.port!, body, until: { $0.contains("more") })
            // Within 3 s: well before the call's total time (6 s) would have ended it.
            let cancelled = try await eventually(within: .seconds(3), every: .milliseconds(20)) { provider.abandonedStreams >= 2 }
            #expect(cancelled, "a client that hangs up cancels the provider's call")
        }
    }

    @Test(
        "the models file: models, aliases, routing, fallbacks and deployments, keys from the environment or a file; mistakes name the file and key"
    )
    func modelsFile() throws {
        let keyFile = FileManager.default.temporaryDirectory.appending(path: "chat-key-\(UUID().uuidString)")
        try "sk-from-file\n".write(to: keyFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: keyFile) }
        let yaml = """
            models:
              - name: gpt-4o
                aliases: [gpt4]
                routing: least_outstanding
                fallbacks: [mini]
                deployments:
                  - name: east
                    base_url: https://api.openai.com/v1
                    api_key_env: TEST_OPENAI_KEY
                    model: gpt-4o-2024-08-06
                    weight: 2
                    max_concurrent: 8
                    timeout_seconds: 30
                    input_price_per_million: 2.5
                    output_price_per_million: 10
                    context_window: 128000
              - name: mini
                deployments:
                  - base_url: http://localhost:11434/v1
                    api_key_file: \(keyFile.path)
                    model: llama3
            """
        let table = try GatewayModelTable.parse(yaml, file: "models.yaml", environment: ["TEST_OPENAI_KEY": "sk-from-env"])
        let model = try #require(table["gpt4"])
        #expect(model.name == "gpt-4o" && model.routing == .leastOutstanding && model.fallbacks == ["mini"])
        #expect(
            model.deployments == [
                GatewayDeployment(
                    id: "east", baseURL: URL(string: "https://api.openai.com/v1")!, apiKey: "sk-from-env", model: "gpt-4o-2024-08-06",
                    weight: 2,
                    maxConcurrent: 8, timeout: .seconds(30), inputPricePerMillion: 2.5, outputPricePerMillion: 10, contextWindow: 128_000)
            ])
        #expect(table["mini"]?.deployments.first?.id == "mini/1" && table["mini"]?.deployments.first?.apiKey == "sk-from-file")

        // The example the documentation points to reads.
        let example = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appending(path: "deploy/chat/models.yaml")
        let examples = try GatewayModelTable.load(
            from: example, environment: ["OPENAI_API_KEY": "sk-1", "OPENAI_SECOND_API_KEY": "sk-2", "ANTHROPIC_API_KEY": "sk-3"])
        #expect(examples.models.map(\.name) == ["gpt-4o-mini", "claude", "local-llama", "embed", "openai-embed"])
        #expect(examples["claude"]?.deployments.first?.provider == .anthropic)
        #expect(examples["embed"]?.kind == .embedding && examples["embed"]?.deployments.first?.provider == .local)
        #expect(examples["embed"]?.deployments.first?.baseURL == GatewayDeployment.inProcess)

        let mistakes: [(String, String)] = [
            ("models:\n  - name: a\n    deployments: []", "models[0].deployments takes a list of deployments"),
            ("models:\n  - name: a\n    deployments:\n      - model: m", "models[0].deployments[0] needs a base_url"),
            (
                "models:\n  - name: a\n    deployments:\n      - base_url: http://x/v1\n        model: m\n        api_key: sk-1",
                "use api_key_env or api_key_file"
            ),
            (
                "models:\n  - name: a\n    deployments:\n      - base_url: http://x/v1\n        model: m\n        api_key_env: NOT_SET_HERE",
                "NOT_SET_HERE, which is not set"
            ),
            (
                "models:\n  - name: a\n    routing: fastest\n    deployments:\n      - base_url: http://x/v1\n        model: m",
                "takes one of weighted"
            ),
            (
                "models:\n  - name: a\n    fallbacks: [b]\n    deployments:\n      - base_url: http://x/v1\n        model: m",
                "'b', which is not declared"
            ),
            ("models:\n  - name: a\n    deployments:\n      - base_url: ftp://x\n        model: m", "takes an http(s) URL"),
            (
                "models:\n  - name: a\n    deployments:\n      - provider: local\n        model: m",
                "the deployment 'a/1' of the chat model 'a' cannot be local"
            ),
            (
                "models:\n  - name: a\n    kind: embedding\n    deployments:\n      - provider: anthropic\n        base_url: http://x/v1\n        model: m",
                "cannot be anthropic"
            ),
            (
                "models:\n  - name: a\n    kind: embedding\n    deployments:\n      - provider: local\n        base_url: http://x/v1\n        model: m",
                "is local: it takes no base_url and no key"
            ),
            (
                "models:\n  - name: a\n    fallbacks: [e]\n    deployments:\n      - base_url: http://x/v1\n        model: m\n  - name: e\n    kind: embedding\n    deployments:\n      - provider: local\n        model: m",
                "the chat model 'a' cannot fall back to 'e', an embedding model"
            ),
            (
                "models:\n  - name: a\n    colour: red\n    deployments:\n      - base_url: http://x/v1\n        model: m",
                "'models[0].colour' is not a key of a model"
            ),
            (
                "models:\n  - name: a\n    deployments:\n      - base_url: http://x/v1\n        model: m\n  - name: a\n    deployments:\n      - base_url: http://x/v1\n        model: m",
                "declared twice"
            ),
        ]
        for (yaml, expected) in mistakes {
            #expect(throws: ConfigurationError.self) { try GatewayModelTable.parse(yaml, file: "models.yaml", environment: [:]) }
            do {
                _ = try GatewayModelTable.parse(yaml, file: "models.yaml", environment: [:])
            } catch {
                #expect("\(error)".contains(expected), "\(error)")
                #expect(!"\(error)".contains("sk-1"), "a key is never echoed")
            }
        }
    }

    @Test("GET /v1/models lists the chat models beside the local embedding model, each with its kind")
    func listedModels() async throws {
        try await Self.withGateway({
            [GatewayModel(name: "smart", aliases: ["clever"], deployments: [Self.deployment("a", port: $0, contextWindow: 8192)])]
        }) {
            _, client in
            let response = try await client.execute(uri: "/v1/models", method: .get)
            let data =
                ((try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))) as? [String: Any])?["data"]
                as? [[String: Any]]
            let byID = Dictionary(uniqueKeysWithValues: (data ?? []).map { ($0["id"] as? String ?? "", $0) })
            #expect(byID["all-MiniLM-L6-v2"]?["kind"] as? String == "embedding")
            #expect(byID["smart"]?["kind"] as? String == "chat" && byID["smart"]?["aliases"] as? [String] == ["clever"])
            #expect(byID["smart"]?["context_window"] as? Int == 8192)
            #expect(try await client.execute(uri: "/v1/models/clever", method: .get).status == .ok)
        }
    }

    @Test(
        "chat needs the chat scope; a call reserves its largest size against the key's limits and settles at what it used, which is billed")
    func limitsAndUsage() async throws {
        let provider = FakeProvider()
        try await provider.application().test(.live) { providerClient in
            try await TestDatabase.withTeam(.sqlite) { store, team in
                let key = try await store.keys.create(name: "chatty", teamID: team.id, scopes: [.chat])
                try await store.keys.setLimits(Limits(tokensPerMinute: 5000), forKey: key.key.id)
                let embedder = try await store.keys.create(name: "embedder", teamID: team.id, scopes: [.embeddings]).secret
                let app = try TestServer.authenticatedApplication(store: store) { configuration in
                    configuration.chat.models = try! GatewayModelTable([
                        GatewayModel(name: "smart", deployments: [Self.deployment("a", port: providerClient.port!)])
                    ])
                }
                try await app.test(.router) { client in
                    func post(_ secret: String, _ body: String) async throws -> TestResponse {
                        try await client.execute(
                            uri: "/v1/chat/completions", method: .post,
                            headers: [.authorization: "Bearer \(secret)", .contentType: "application/json"], body: ByteBuffer(string: body))
                    }
                    #expect(
                        try await post(embedder, #"{"model":"smart","messages":[{"role":"user","content":"hi"}]}"#).status == .forbidden)
                    let tooLarge = try await post(
                        key.secret, #"{"model":"smart","max_tokens":6000,"messages":[{"role":"user","content":"hi"}]}"#)
                    #expect(tooLarge.status == .badRequest && String(buffer: tooLarge.body).contains("request_too_large"))
                    #expect(provider.calls.isEmpty, "refused before any provider is called")

                    let served = try await post(
                        key.secret, #"{"model":"smart","max_tokens":3000,"messages":[{"role":"user","content":"hi"}]}"#)
                    #expect(served.status == .ok && served.headers[HTTPField.Name("x-ratelimit-limit-tokens")!] != nil)
                    // Reserved 3,000 and more; settled at the 110 the provider counted.
                    let counted = try await store.read { sql in
                        try await sql.raw("SELECT tokens FROM rate_counters WHERE subject = \(bind: "key:" + key.key.id + ":minute")")
                            .first()?
                            .decode(column: "tokens", as: Int.self)
                    }
                    #expect(counted == 110)
                    let billed = try await eventually(within: .seconds(10), every: .milliseconds(50)) {
                        let row = try await store.read { sql in
                            try await sql.raw(
                                "SELECT tokens, model, route FROM usage_events WHERE key_id = \(bind: key.key.id) AND status = 200"
                            ).first()
                        }
                        return try row?.decode(column: "tokens", as: Int.self) == 110
                            && row?.decode(column: "model", as: String.self) == "smart"
                            && row?.decode(column: "route", as: String.self) == "/v1/chat/completions"
                    }
                    #expect(billed)
                }
            }
        }
    }

    @Test("the official openai SDK (sync, async, streaming) and curl -N work unchanged against the gateway")
    func officialClients() async throws {
        try await Self.withGateway({ [GatewayModel(name: "smart", deployments: [Self.deployment("a", port: $0)])] }) { _, client in
            let script = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appending(
                path: "Fixtures/openai_sdk_check.py")
            // Output to a file, not a pipe: a full pipe would stall the child, and reading one can hang.
            let output = FileManager.default.temporaryDirectory.appending(path: "openai-sdk-\(UUID().uuidString).json")
            FileManager.default.createFile(atPath: output.path, contents: nil)
            defer { try? FileManager.default.removeItem(at: output) }
            let process = Process()
            process.executableURL = URL(filePath: "/usr/bin/env")
            process.arguments = ["python3", script.path, "http://127.0.0.1:\(client.port!)/v1", "smart"]
            process.standardOutput = try FileHandle(forWritingTo: output)
            process.standardError = try FileHandle(forWritingTo: output)
            try process.run()
            let finished = try await eventually(within: .seconds(60), every: .milliseconds(50)) { !process.isRunning }
            if !finished { process.terminate() }
            let text = try String(contentsOf: output, encoding: .utf8)
            #expect(finished && process.terminationStatus == 0, "\(text)")
            let results = try #require(
                (try? JSONSerialization.jsonObject(with: Data((text.split(separator: "\n").last ?? "").utf8))) as? [String: Any], "\(text)")
            let sync = results["sync"] as? [String: Any]
            #expect(sync?["content"] as? String == "hello there" && sync?["total_tokens"] as? Int == 110)
            #expect((results["headers"] as? [String: Any])?["deployment"] as? String == "a")
            let stream = results["sync_stream"] as? [String: Any]
            #expect(stream?["content"] as? String == "hello there " && stream?["total_tokens"] as? Int == 102)
            let error = results["error"] as? [String: Any]
            #expect(error?["status"] as? Int == 404 && error?["code"] as? String == "model_not_found")
            let asynchronous = results["async"] as? [String: Any]
            #expect(asynchronous?["content"] as? String == "hello there" && asynchronous?["stream"] as? String == "hello there ")
            let curl = results["curl"] as? [String: Any]
            #expect(curl?["events"] as? Int == 3 && curl?["last"] as? String == "[DONE]", "two words and [DONE]")
        }
    }

    /// Runs `body` with an authenticated server (SQLite) in front of a fake provider, serving the models
    /// `models` makes from its port with answers kept for a minute, and keys of two teams: mine and theirs.
    static func withCache(
        _ models: @escaping @Sendable (Int) -> [GatewayModel],
        _ body: @escaping @Sendable (FakeProvider, any TestClientProtocol, String, String, ServerMetrics) async throws -> Void
    ) async throws {
        let provider = FakeProvider()
        try await provider.application().test(.live) { providerClient in
            try await TestDatabase.withTeam(.sqlite) { store, team in
                let other = try await store.teams.create(name: "other")
                let mine = try await store.keys.create(name: "mine", teamID: team.id, scopes: [.chat]).secret
                let theirs = try await store.keys.create(name: "theirs", teamID: other.id, scopes: [.chat]).secret
                let metrics = ServerMetrics()
                let app = try TestServer.authenticatedApplication(store: store, metrics: metrics) { configuration in
                    configuration.chat.models = try! GatewayModelTable(models(providerClient.port!))
                    configuration.chat.cacheTTL = .seconds(60)
                }
                try await app.test(.router) { client in try await body(provider, client, mine, theirs, metrics) }
            }
        }
    }

    @Test(
        "the exact cache reuses a deterministic request's answer per team (x-cache: hit), whatever its spelling; no-cache bypasses it; sampled requests are not kept"
    )
    func exactCache() async throws {
        try await Self.withCache({ [GatewayModel(name: "smart", aliases: ["clever"], deployments: [Self.deployment("a", port: $0)])] }) {
            provider, client, mine, theirs, _ in
            func post(_ secret: String, _ body: String, cacheControl: String? = nil) async throws -> TestResponse {
                var headers: HTTPFields = [.authorization: "Bearer \(secret)", .contentType: "application/json"]
                if let cacheControl { headers[.cacheControl] = cacheControl }
                return try await client.execute(
                    uri: "/v1/chat/completions", method: .post, headers: headers, body: ByteBuffer(string: body))
            }
            let cache = HTTPField.Name("x-cache")!
            let first = try await post(mine, #"{"model":"smart","temperature":0,"messages":[{"role":"user","content":"hi"}]}"#)
            #expect(first.status == .ok && first.headers[cache] == "miss" && provider.calls.count == 1)
            // The same request spelt otherwise, by its alias: the kept answer.
            let again = try await post(
                mine, #"{ "messages": [{"content":"hi", "role":"user"}], "temperature": 0.0, "model": "clever" }"#)
            #expect(again.status == .ok && again.headers[cache] == "hit" && again.headers[Self.attemptsHeader] == "0")
            #expect(again.body == first.body && provider.calls.count == 1)

            let elsewhere = try await post(
                theirs, #"{"model":"smart","temperature":0,"messages":[{"role":"user","content":"hi"}]}"#)
            #expect(elsewhere.headers[cache] == "miss" && provider.calls.count == 2, "another team's answers are its own")
            let fresh = try await post(
                mine, #"{"model":"smart","temperature":0,"messages":[{"role":"user","content":"hi"}]}"#, cacheControl: "no-cache")
            #expect(fresh.headers[cache] == "miss" && provider.calls.count == 3)
            let sampled = try await post(mine, #"{"model":"smart","temperature":0.7,"messages":[{"role":"user","content":"hi"}]}"#)
            #expect(sampled.headers[cache] == nil && provider.calls.count == 4)
            for expected in ["miss", "hit"] {
                let seeded = try await post(mine, #"{"model":"smart","seed":5,"messages":[{"role":"user","content":"hi"}]}"#)
                #expect(seeded.headers[cache] == expected)
            }
            #expect(provider.calls.count == 5)
        }
    }

    @Test(
        "the semantic cache (opt-in per model) gives a single-turn prompt the answer kept for a similar one in the same context and team, saying how similar; other contexts, conversations and teams are called"
    )
    func semanticCache() async throws {
        try await Self.withCache({ port in
            [
                GatewayModel(name: "smart", deployments: [Self.deployment("a", port: port)], semanticCacheThreshold: 0.85),
                GatewayModel(name: "plain", deployments: [Self.deployment("b", port: port)]),
            ]
        }) { provider, client, mine, theirs, metrics in
            func ask(_ secret: String, _ messages: String, model: String = "smart") async throws -> TestResponse {
                try await client.execute(
                    uri: "/v1/chat/completions", method: .post,
                    headers: [.authorization: "Bearer \(secret)", .contentType: "application/json"],
                    body: ByteBuffer(string: #"{"model":"\#(model)","temperature":0.7,"messages":\#(messages)}"#))
            }
            func user(_ text: String) -> String { #"[{"role":"user","content":"\#(text)"}]"# }
            let cache = HTTPField.Name("x-cache")!
            provider.script(
                "a", [.answer("It ships on Monday."), .answer("Use the reset link."), .answer("x"), .answer("y"), .answer("z")])
            let first = try await ask(mine, user("Where is my parcel? It has not arrived."))
            #expect(first.status == .ok && first.headers[cache] == "miss" && provider.calls.count == 1)
            let similar = try await ask(mine, user("where is my parcel, it hasn't arrived yet"))
            #expect(similar.status == .ok && similar.headers[cache] == "hit" && similar.body == first.body)
            let similarity = try #require(similar.headers[ChatCompletionsController.similarityHeader].flatMap(Double.init))
            #expect(similarity >= 0.85 && similarity < 1, "\(similarity)")
            #expect(provider.calls.count == 1)

            let unrelated = try await ask(mine, user("How do I reset my password?"))
            #expect(unrelated.headers[cache] == "miss" && provider.calls.count == 2)
            let otherContext = try await ask(
                mine,
                #"[{"role":"system","content":"Answer in French."},{"role":"user","content":"Where is my parcel? It has not arrived."}]"#
            )
            #expect(otherContext.headers[cache] == "miss" && provider.calls.count == 3, "another system prompt is another context")
            let conversation = try await ask(
                mine,
                #"[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"user","content":"Where is my parcel? It has not arrived."}]"#
            )
            #expect(conversation.headers[cache] == nil && provider.calls.count == 4, "multi-turn requests are not cached")
            let elsewhere = try await ask(theirs, user("Where is my parcel? It has not arrived."))
            #expect(elsewhere.headers[cache] == "miss" && provider.calls.count == 5, "another team's answers are its own")
            let notOptedIn = try await ask(mine, user("Where is my parcel? It has not arrived."), model: "plain")
            #expect(notOptedIn.headers[cache] == nil && provider.calls.count == 6)
            let named = try await ask(mine, #"[{"role":"user","name":"bob","content":"Where is my parcel? It has not arrived."}]"#)
            #expect(named.headers[cache] == "miss" && provider.calls.count == 7, "the message's other fields are its context")
            // Longer than the model reads: two such prompts that begin alike would look the same; not cached.
            let long = "Summarize this contract. " + String(repeating: "The party of the first part agrees. ", count: 80)
            for _ in 0..<2 { #expect(try await ask(mine, user(long)).headers[cache] == nil) }
            #expect(provider.calls.count == 9)
            let exposition = String(decoding: metrics.exposition(), as: UTF8.self)
            #expect(exposition.contains(#"conduit_chat_cache_hits_total{model="smart",kind="semantic"} 1"#), "\(exposition)")
        }
    }

    @Test(
        "an Anthropic deployment: the request is translated to the Messages API, its answer and its stream back to OpenAI's chat completion"
    )
    func anthropic() async throws {
        try await Self.withGateway({ port in
            var deployment = Self.deployment("claude", port: port)
            deployment.provider = .anthropic
            return [GatewayModel(name: "claude", deployments: [deployment])]
        }) { provider, client in
            let request = #"""
                {"model":"claude","stop":"END","tool_choice":"required","user":"u-1",
                 "messages":[{"role":"system","content":"be brief"},{"role":"user","content":"find tea"},
                             {"role":"assistant","content":null,"tool_calls":[{"id":"toolu_0","type":"function","function":{"name":"lookup","arguments":"{\"q\":\"coffee\"}"}}]},
                             {"role":"tool","tool_call_id":"toolu_0","content":"none"},{"role":"user","content":[{"type":"text","text":"and tea?"}]}],
                 "tools":[{"type":"function","function":{"name":"lookup","description":"Search","parameters":{"type":"object","properties":{"q":{"type":"string"}}}}}]}
                """#
            let (response, json) = try await Self.post(client, request)
            #expect(response.status == .ok, "\(json)")
            let choice = try #require((json["choices"] as? [[String: Any]])?.first)
            let message = try #require(choice["message"] as? [String: Any])
            #expect(message["content"] as? String == "Let me look." && choice["finish_reason"] as? String == "tool_calls")
            let call = try #require((message["tool_calls"] as? [[String: Any]])?.first)
            #expect(call["id"] as? String == "toolu_1" && (call["function"] as? [String: Any])?["arguments"] as? String == #"{"q":"tea"}"#)
            let usage = json["usage"] as? [String: Any]
            #expect(
                usage?["prompt_tokens"] as? Int == 12 && usage?["completion_tokens"] as? Int == 7 && usage?["total_tokens"] as? Int == 19)

            let sent = try #require(provider.calls.first)
            #expect(sent.authorization == "key-of-claude" && sent.version == "2023-06-01")
            let expected: JSONValue = [
                "model": "upstream-claude", "max_tokens": 4096, "system": "be brief", "stop_sequences": ["END"],
                "tool_choice": ["type": "any"], "metadata": ["user_id": "u-1"],
                "tools": [
                    [
                        "name": "lookup", "description": "Search",
                        "input_schema": ["type": "object", "properties": ["q": ["type": "string"]]],
                    ]
                ],
                "messages": [
                    ["role": "user", "content": [["type": "text", "text": "find tea"]]],
                    ["role": "assistant", "content": [["type": "tool_use", "id": "toolu_0", "name": "lookup", "input": ["q": "coffee"]]]],
                    [
                        "role": "user",
                        "content": [
                            ["type": "tool_result", "tool_use_id": "toolu_0", "content": "none"], ["type": "text", "text": "and tea?"],
                        ],
                    ],
                ],
            ]
            #expect(JSONValue.object(sent.body) == expected)

            let (streamed, pieces) = try await Self.streamed(
                port: client.port!,
                #"{"model":"claude","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#)
            #expect(streamed.status == .ok)
            let events = Self.events(pieces.map(\.1).joined())
            #expect(events.last as? String == "[DONE]")
            let chunks = events.compactMap { $0 as? [String: Any] }
            let deltas = chunks.compactMap { (($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any]) }
            #expect(deltas.first?["role"] as? String == "assistant")
            #expect(deltas.compactMap { $0["content"] as? String }.joined() == "Hello")
            let arguments = deltas.compactMap {
                (($0["tool_calls"] as? [[String: Any]])?.first?["function"] as? [String: Any])?["arguments"] as? String
            }
            #expect(arguments.joined() == #"{"q":"tea"}"#)
            let finish = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String }
            #expect(finish == ["tool_calls"])
            #expect((chunks.last?["usage"] as? [String: Any])?["total_tokens"] as? Int == 19)
        }
    }

    @Test(
        "a monthly budget in US dollars: a call reserves its largest cost, is settled at its deployment's prices, and is refused past the budget; 50 % and 80 % are announced once each"
    )
    func budgets() async throws {
        let provider = FakeProvider()
        try await provider.application().test(.live) { providerClient in
            try await TestDatabase.withTeam(.sqlite) { store, team in
                let key = try await store.keys.create(name: "spender", teamID: team.id, scopes: [.chat])
                try await store.keys.setLimits(Limits(monthlyBudgetUSD: 0.01), forKey: key.key.id)
                let admin = try await store.keys.create(name: "admin", teamID: team.id, scopes: [.admin]).secret
                let app = try TestServer.authenticatedApplication(store: store) { configuration in
                    var deployment = Self.deployment("a", port: providerClient.port!)
                    (deployment.inputPricePerMillion, deployment.outputPricePerMillion) = (10, 10)
                    configuration.chat.models = try! GatewayModelTable([GatewayModel(name: "smart", deployments: [deployment])])
                }
                try await app.test(.router) { client in
                    // Each call: 100 + 10 tokens at $10 a million, $0.0011; reserved first: 4 prompt and 100 completion tokens, $0.00104.
                    var statuses: [HTTPResponse.Status] = []
                    var refusal = ""
                    for _ in 0..<10 {
                        let response = try await client.execute(
                            uri: "/v1/chat/completions", method: .post,
                            headers: [.authorization: "Bearer \(key.secret)", .contentType: "application/json"],
                            body: ByteBuffer(string: #"{"model":"smart","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}"#))
                        statuses.append(response.status)
                        if response.status != .ok { refusal = String(buffer: response.body) }
                    }
                    #expect(
                        statuses == Array(repeating: .ok, count: 9) + [.tooManyRequests],
                        "9 calls fit in $0.01 with room for the next's reservation")
                    #expect(refusal.contains("budget_exceeded"), "\(refusal)")
                    #expect(provider.calls.count == 9)
                    let spent = try await store.rateCounters.counted(
                        in: try #require(RateWindow.budgetWindows(for: "key:" + key.key.id, Limits(monthlyBudgetUSD: 0.01)).first))
                    #expect(spent == 9 * 1100, "settled at what each call cost, in millionths of a dollar")
                    let events = try await store.events.list(teamID: team.id, filter: EventFilter(types: ["budget.threshold_crossed"]))
                    let percents = events.compactMap { event in
                        (try? JSONSerialization.jsonObject(with: Data(event.payload.utf8)) as? [String: Any])?["percent"] as? Int
                    }
                    #expect(percents == [50, 80], "each crossing once, in order")
                    let first = try #require(
                        events.first.flatMap { try? JSONSerialization.jsonObject(with: Data($0.payload.utf8)) as? [String: Any] })
                    #expect(
                        first["scope"] as? String == "key" && first["key_id"] as? String == key.key.id
                            && first["budget_usd"] as? Double == 0.01)

                    // The usage report shows what the calls cost at the deployment's prices.
                    let reported = try await eventually(within: .seconds(10), every: .milliseconds(50)) {
                        let report = try await client.execute(
                            uri: "/v1/admin/usage", method: .get, headers: [.authorization: "Bearer \(admin)"])
                        let rows =
                            (try? JSONSerialization.jsonObject(with: Data(report.body.readableBytesView)) as? [String: Any])?["data"]
                            as? [[String: Any]]
                        let row = rows?.first { $0["model"] as? String == "smart" && $0["key_id"] as? String == key.key.id }
                        return row.map { abs(($0["cost_usd"] as? Double ?? 0) - 0.0099) < 1e-9 && $0["tokens"] as? Int == 990 } ?? false
                    }
                    #expect(reported, "9 calls of 110 tokens at $10 a million: $0.0099")
                }
            }
        }
    }

    @Test("a chat call may take longer than other requests' deadline: it is bounded by chat.total_timeout_seconds instead")
    func longCall() async throws {
        try await Self.withGateway(
            { [GatewayModel(name: "smart", deployments: [Self.deployment("a", port: $0)])] }, configure: { $0.totalTimeout = .seconds(20) },
            requestDeadline: .seconds(1)
        ) { provider, client in
            provider.script("a", [.delayed(.milliseconds(1500), "slow but sure")])
            let (response, _) = try await Self.post(client, #"{"model":"smart","messages":[{"role":"user","content":"hi"}]}"#)
            #expect(response.status == .ok, "not 408 at the 1 s deadline of other requests")
        }
    }

    @Test("a streamed call whose client left before the answer's head gives its deployment's slot back")
    func abandonedBeforeHead() async throws {
        try await Self.withGateway(
            { [GatewayModel(name: "smart", deployments: [Self.deployment("a", port: $0, maxConcurrent: 1)])] },
            configure: { $0.maxRetries = 0 }
        ) { provider, client in
            let body = #"{"model":"smart","stream":true,"messages":[{"role":"user","content":"hi"}]}"#
            provider.script("a", [.delayed(.milliseconds(800), "late answer")])
            let port = client.port!
            let abandoned = Task { try await Self.streamed(port: port, body) }
            try await Task.sleep(for: .milliseconds(200))
            abandoned.cancel()
            _ = await abandoned.result
            // The provider answers after the client left; the slot (max_concurrent 1) must come free.
            let freed = try await eventually(within: .seconds(10), every: .milliseconds(100)) {
                (try? await Self.streamed(port: port, body).0.status) == .ok
            }
            #expect(freed, "the deployment's one slot is given back")
        }
    }

    @Test("each attempt is a client span with OpenTelemetry's GenAI attributes: provider, model, bound, tokens; a failed one says why")
    func genAISpans() async throws {
        let provider = FakeProvider()
        try await provider.application().test(.live) { providerClient in
            var configuration = ChatConfiguration()
            configuration.backoff = .milliseconds(1)
            configuration.models = try GatewayModelTable([
                GatewayModel(
                    name: "smart", routing: .leastOutstanding,
                    deployments: [
                        Self.deployment("a", port: providerClient.port!, weight: 2), Self.deployment("b", port: providerClient.port!),
                    ])
            ])
            let tracer = InMemoryTracer()
            let outbound = OutboundHTTPClient()
            let states = DeploymentStates(outbound: outbound, metricsFactory: NOOPMetricsHandler.instance)
            let gateway = ChatGateway(
                configuration: .constant(configuration), states: states, metrics: ChatMetrics(factory: NOOPMetricsHandler.instance),
                tracer: tracer)
            provider.script("a", [.status(500)])
            let request = try ChatCompletionRequest([
                "model": "smart", "max_tokens": 50, "messages": [["role": "user", "content": "hi"]],
            ])
            let (route, _) = try await gateway.completion(
                request, model: try #require(configuration.models["smart"]), configuration: configuration, deadline: .now + .seconds(30))
            await states.shutdown()
            try await outbound.shutdown()
            #expect(route.deployment.id == "b")
            let spans = tracer.finishedSpans.filter { $0.operationName.hasPrefix("chat ") }
            #expect(spans.map(\.operationName) == ["chat upstream-a", "chat upstream-b"])
            let (failed, served) = (try #require(spans.first).attributes, try #require(spans.last).attributes)
            #expect(failed["gen_ai.operation.name"]?.toSpanAttribute() == .string("chat"))
            #expect(failed["gen_ai.provider.name"]?.toSpanAttribute() == .string("openai"))
            #expect(failed["gen_ai.request.model"]?.toSpanAttribute() == .string("upstream-a"))
            #expect(failed["gen_ai.request.max_tokens"]?.toSpanAttribute() == .int64(50))
            #expect(failed["error.type"]?.toSpanAttribute() == .string("server_error"))
            #expect(served["gen_ai.usage.input_tokens"]?.toSpanAttribute() == .int64(100))
            #expect(served["gen_ai.usage.output_tokens"]?.toSpanAttribute() == .int64(10))
            #expect(
                served["conduit.deployment"]?.toSpanAttribute() == .string("b") && served["conduit.attempt"]?.toSpanAttribute() == .int64(2)
            )
            #expect(try #require(spans.last).kind == .client)
        }
    }

    @Test("a deployment's calls go through a client whose connections live on the caller's event loop, one client per loop")
    func clientPerEventLoop() async throws {
        let outbound = OutboundHTTPClient()
        let states = DeploymentStates(outbound: outbound, metricsFactory: NOOPMetricsHandler.instance)
        let deployment = Self.deployment("a", port: 9)
        var clients: [ObjectIdentifier] = []
        for eventLoop in MultiThreadedEventLoopGroup.singleton.makeIterator() {
            let (first, second) = await withTaskExecutorPreference(EventLoopExecutor.of(eventLoop)) {
                (states.client(of: deployment), states.client(of: deployment))
            }
            #expect(first === second)
            #expect(first.eventLoopGroup === eventLoop)
            clients.append(ObjectIdentifier(first))
        }
        #expect(Set(clients).count == clients.count)
        await states.shutdown()
        try await outbound.shutdown()
    }
}
