import ConduitTestSupport
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Store
import Synchronization
import Testing

@testable import Conduit
@testable import ConduitCore
@testable import ConduitEvents
@testable import ConduitJobs

@Suite("Webhooks")
struct WebhooksAPITests {
    private func call(
        _ client: some TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, key: String, body: String? = nil
    ) async throws -> (TestResponse, [String: Any]) {
        var headers: HTTPFields = [.authorization: "Bearer \(key)"]
        if body != nil { headers[.contentType] = "application/json" }
        let response = try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        let json = (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))) as? [String: Any] ?? [:]
        return (response, json)
    }

    /// Plays a team's webhook receiver: records each request and answers with the next scripted status (then 200).
    final class Receiver: Sendable {
        struct Delivery: Sendable {
            var path: String
            var id: String
            var timestamp: String
            var signature: String
            var body: Data
        }
        private let state = Mutex<(deliveries: [Delivery], statuses: [Int])>(([], []))

        init(statuses: [Int] = []) { state.withLock { $0.statuses = statuses } }

        var deliveries: [Delivery] { state.withLock { $0.deliveries } }

        func application() -> some ApplicationProtocol {
            let router = Router()
            router.post("/hooks/{name}") { request, _ -> Response in
                let body = Data(try await request.body.collect(upTo: 1 << 20).readableBytesView)
                func header(_ name: String) -> String { request.headers[HTTPField.Name(name)!] ?? "" }
                let status = self.state.withLock { state in
                    state.deliveries.append(
                        Delivery(
                            path: request.uri.path, id: header("webhook-id"), timestamp: header("webhook-timestamp"),
                            signature: header("webhook-signature"), body: body))
                    return state.statuses.isEmpty ? 200 : state.statuses.removeFirst()
                }
                return Response(status: .init(code: status))
            }
            return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        }

        /// Waits until `count` requests have come to `path`.
        func wait(for count: Int, at path: String) async throws -> [Delivery] {
            var received: [Delivery] = []
            let arrived = try await eventually(within: .seconds(30), every: .milliseconds(50)) {
                received = deliveries.filter { $0.path == path }
                return received.count >= count
            }
            if !arrived { Issue.record("\(received.count) of \(count) deliveries came to \(path)") }
            return received
        }
    }

    /// Whether `header` holds a signature of the delivery under `secret`, checked as a receiver following the
    /// Standard Webhooks specification would (its own HMAC, not the server's code).
    private static func isSigned(_ delivery: Receiver.Delivery, with secret: String) -> Bool {
        let key = SymmetricKey(data: Data(base64Encoded: String(secret.dropFirst("whsec_".count)))!)
        let signed = Data("\(delivery.id).\(delivery.timestamp).".utf8) + delivery.body
        let expected = "v1," + Data(HMAC<SHA256>.authenticationCode(for: signed, using: key)).base64EncodedString()
        return delivery.signature.split(separator: " ").contains { $0 == expected }
    }

    @Test(
        "a webhook gets each event of its topics, signed as Standard Webhooks says; a failed attempt is retried with the same webhook-id; deliveries show their attempts; a rotated secret signs next to the old one; redelivery sends again; its secret is shown only when made; other teams and non-admin keys cannot see it"
    )
    func deliveries() async throws {
        let receiver = Receiver(statuses: [500])
        try await receiver.application().test(.live) { receiverClient in
            try await TestDatabase.withTeams(.sqlite) { store, team, other in
                let admin = try await store.keys.create(name: "a", teamID: team.id, scopes: [.admin, .jobs, .insights]).secret
                let member = try await store.keys.create(name: "m", teamID: team.id, scopes: [.jobs, .insights]).secret
                let stranger = try await store.keys.create(name: "s", teamID: other.id, scopes: [.admin]).secret
                let app = try TestServer.authenticatedApplication(store: store) { configuration in
                    configuration.webhooks.allowPrivateAddresses = true
                    configuration.jobs.backoff = RetryBackoff(baseMilliseconds: 50, capMilliseconds: 200)
                    configuration.jobs.pollInterval = .milliseconds(50)
                }
                let base = "http://127.0.0.1:\(receiverClient.port!)/hooks"
                try await app.test(.router) { client in
                    let (created, hook) = try await call(
                        client, .post, "/v1/webhooks", key: admin,
                        body: #"{"url":"\#(base)/insights","topics":["insight.created"],"description":"analytics"}"#)
                    #expect(created.status == .created, "\(hook)")
                    let id = try #require(hook["id"] as? String)
                    let secret = try #require(hook["secret"] as? String)
                    #expect(secret.hasPrefix("whsec_") && Data(base64Encoded: String(secret.dropFirst(6)))?.count == 32)
                    #expect(hook["topics"] as? [String] == ["insight.created"] && hook["description"] as? String == "analytics")
                    let skips = try await call(
                        client, .post, "/v1/webhooks", key: admin, body: #"{"url":"\#(base)/skips","topics":["conversation.skipped"]}"#)
                    #expect(skips.0.status == .created)

                    let listed = try await call(client, .get, "/v1/webhooks", key: admin)
                    #expect((listed.1["data"] as? [[String: Any]])?.count == 2)
                    #expect(!String(buffer: listed.0.body).contains("whsec_"), "a secret is shown only when made")
                    #expect(try await call(client, .get, "/v1/webhooks/\(id)", key: stranger).0.status == .notFound)
                    #expect(try await call(client, .delete, "/v1/webhooks/\(id)", key: stranger).0.status == .notFound)
                    #expect(try await call(client, .get, "/v1/webhooks", key: member).0.status == .forbidden)

                    // One conversation analysed: one insight.created event, sent to the first webhook only; its
                    // first attempt is answered 500 and retried.
                    let conversation = try await call(
                        client, .post, "/v1/conversations", key: admin,
                        body: #"{"messages":[{"role":"user","content":"\#(InsightsAPITests.billing[0])"}]}"#)
                    let conversationID = try #require(conversation.1["id"] as? String)
                    let attempts = try await receiver.wait(for: 2, at: "/hooks/insights")
                    #expect(attempts.count == 2 && attempts[0].id == attempts[1].id, "one event, one webhook-id")
                    #expect(attempts.allSatisfy { Self.isSigned($0, with: secret) }, "\(attempts.map(\.signature))")
                    let event = try #require(try JSONSerialization.jsonObject(with: attempts[1].body) as? [String: Any])
                    #expect(event["type"] as? String == "insight.created")
                    #expect((event["data"] as? [String: Any])?["conversation_id"] as? String == conversationID)
                    #expect(abs((Double(attempts[1].timestamp) ?? 0) - Date().timeIntervalSince1970) < 60)

                    var deliveries: [[String: Any]] = []
                    try await eventually(within: .seconds(10), every: .milliseconds(50)) {
                        deliveries =
                            try await call(client, .get, "/v1/webhooks/\(id)/deliveries", key: admin).1["data"] as? [[String: Any]] ?? []
                        return deliveries.first?["status"] as? String == "succeeded"
                    }
                    let delivery = try #require(deliveries.first)
                    #expect(deliveries.count == 1 && delivery["status"] as? String == "succeeded", "\(deliveries)")
                    #expect(delivery["attempts"] as? Int == 2 && delivery["response_status"] as? Int == 200)
                    #expect(delivery["event_id"] as? String == attempts[0].id && delivery["topic"] as? String == "insight.created")
                    #expect(receiver.deliveries.filter { $0.path == "/hooks/skips" }.isEmpty, "not its topic")
                    // The delivery is a job, but the webhooks': a jobs key neither sees it nor cancels or retries it.
                    let deliveryJobs = try await store.jobs.list(teamID: team.id, kind: Webhook.deliveryKind, limit: 10)
                    let deliveryJob = try #require(deliveryJobs.first)
                    let listedJobs = try await call(client, .get, "/v1/jobs?limit=100", key: member).1["data"] as? [[String: Any]] ?? []
                    #expect(!listedJobs.contains { $0["kind"] as? String == Webhook.deliveryKind }, "\(listedJobs)")
                    #expect(!listedJobs.isEmpty, "the conversation's job is listed")
                    for (method, path) in [
                        (HTTPRequest.Method.get, "/v1/jobs/\(deliveryJob.id)"), (.post, "/v1/jobs/\(deliveryJob.id)/cancel"),
                        (.post, "/v1/jobs/\(deliveryJob.id)/retry"),
                    ] {
                        #expect(try await call(client, method, path, key: member).0.status == .notFound, "\(method) \(path)")
                    }

                    // A rotation: the next delivery is signed by the new secret and, for the overlap, the old one.
                    let rotated = try await call(client, .post, "/v1/webhooks/\(id)/rotate-secret", key: admin)
                    let newSecret = try #require(rotated.1["secret"] as? String)
                    #expect(newSecret != secret && newSecret.hasPrefix("whsec_"))
                    let deliveryID = try #require(delivery["id"] as? String)
                    let again = try await call(client, .post, "/v1/webhooks/\(id)/deliveries/\(deliveryID)/redeliver", key: admin)
                    #expect(again.0.status == .accepted && again.1["id"] as? String != deliveryID, "\(again.1)")
                    let resent = try await receiver.wait(for: 3, at: "/hooks/insights")[2]
                    #expect(resent.id == attempts[0].id && resent.signature.split(separator: " ").count == 2)
                    #expect(Self.isSigned(resent, with: newSecret) && Self.isSigned(resent, with: secret))
                    #expect(
                        try await call(client, .post, "/v1/webhooks/\(id)/deliveries/\(deliveryID)/redeliver", key: stranger).0.status
                            == .notFound)

                    // A skipped conversation goes to the second webhook only.
                    _ = try await call(
                        client, .post, "/v1/conversations", key: admin, body: #"{"messages":[{"role":"user","content":"ok"}]}"#)
                    let skipped = try await receiver.wait(for: 1, at: "/hooks/skips")
                    let skippedEvent = try JSONSerialization.jsonObject(with: skipped[0].body) as? [String: Any]
                    #expect(skippedEvent?["type"] as? String == "conversation.skipped")

                    // Deleted: gone from the list, and its deliveries with it.
                    #expect(try await call(client, .delete, "/v1/webhooks/\(id)", key: admin).1["deleted"] as? Bool == true)
                    #expect(try await call(client, .get, "/v1/webhooks/\(id)", key: admin).0.status == .notFound)
                    #expect(
                        try await call(client, .post, "/v1/webhooks/\(id)/deliveries/\(deliveryID)/redeliver", key: admin).0.status
                            == .notFound)
                    #expect(receiver.deliveries.filter { $0.path == "/hooks/insights" }.count == 3)
                }
            }
        }
    }

    @Test(
        "registration refuses what is not an http(s) URL, credentials in it, private addresses (unless allowed), unknown topics, control characters and a twenty-first webhook; a host name that resolves to loopback fails its delivery at once"
    )
    func validation() async throws {
        try await TestDatabase.withTeam(.sqlite) { store, team in
            let admin = try await store.keys.create(name: "a", teamID: team.id, scopes: [.admin, .jobs]).secret
            let app = try TestServer.authenticatedApplication(store: store) { $0.jobs.pollInterval = .milliseconds(50) }
            try await app.test(.router) { client in
                let refused: [(String, String)] = [
                    (#"{"url":"ftp://example.com/hook"}"#, "invalid_url"),
                    (#"{"url":"not a url"}"#, "invalid_url"),
                    (#"{"url":"https://user:pass@example.com/hook"}"#, "invalid_url"),
                    (#"{"url":"http://127.0.0.1:8080/hook"}"#, "invalid_url"),
                    (#"{"url":"http://169.254.169.254/latest/meta-data"}"#, "invalid_url"),
                    (#"{"url":"http://[::1]/hook"}"#, "invalid_url"),
                    (#"{"url":"http://10.1.2.3/hook"}"#, "invalid_url"),
                    (#"{"url":"https://example.com/hook","topics":["insight.deleted"]}"#, "unknown_topic"),
                    (#"{"topics":[]}"#, "invalid_json"),
                ]
                for (body, code) in refused {
                    let (response, json) = try await call(client, .post, "/v1/webhooks", key: admin, body: body)
                    let error = json["error"] as? [String: Any]
                    #expect(response.status == .badRequest, "\(body)")
                    #expect(code == "invalid_json" || error?["code"] as? String == code, "\(body): \(json)")
                }
                let control = try await call(
                    client, .post, "/v1/webhooks", key: admin, body: #"{"url":"https://example.com/hook","description":"a\u0000b"}"#)
                #expect(control.0.status == .badRequest, "\(control.1)")
                let accepted = try await call(client, .post, "/v1/webhooks", key: admin, body: #"{"url":"https://example.com/hook"}"#)
                #expect(accepted.0.status == .created && accepted.1["topics"] as? [String] == [], "no topics: all of them")
                #expect(accepted.1["secret"] != nil)
                let shown = try await call(client, .get, "/v1/webhooks/\(accepted.1["id"] as? String ?? "")", key: admin)
                #expect(shown.0.status == .ok && shown.1["secret"] == nil, "a secret is shown only when made")

                // A host name is checked where it resolves, at delivery: loopback fails the delivery at once, for good.
                let local = try await call(client, .post, "/v1/webhooks", key: admin, body: #"{"url":"http://localhost:9/hook"}"#)
                let localID = try #require(local.1["id"] as? String)
                _ = try await call(client, .post, "/v1/conversations", key: admin, body: #"{"messages":[{"role":"user","content":"ok"}]}"#)
                var delivery: [String: Any] = [:]
                try await eventually(within: .seconds(20), every: .milliseconds(50)) {
                    delivery =
                        (try await call(client, .get, "/v1/webhooks/\(localID)/deliveries", key: admin).1["data"] as? [[String: Any]])?
                        .first ?? [:]
                    return delivery["status"] as? String == "failed"
                }
                #expect(delivery["status"] as? String == "failed" && delivery["attempts"] as? Int == 1, "\(delivery)")
                #expect((delivery["last_error"] as? String ?? "").contains("not a public address"), "\(delivery)")

                // At most twenty a team.
                for _ in 2..<Webhook.maximumPerTeam {
                    #expect(
                        try await call(client, .post, "/v1/webhooks", key: admin, body: #"{"url":"https://example.com/more"}"#).0.status
                            == .created)
                }
                let tooMany = try await call(client, .post, "/v1/webhooks", key: admin, body: #"{"url":"https://example.com/more"}"#)
                #expect(tooMany.0.status == .conflict, "\(tooMany.1)")
            }
        }
    }

    @Test(
        "receiver addresses: public ones pass; loopback, private, shared, link-local, unique-local, mapped and translated private ones do not; a host hiding a NUL is refused; a name that does not exist fails at once"
    )
    func addresses() async throws {
        for text in ["8.8.8.8", "93.184.216.34", "2606:4700::1111", "172.32.0.1", "100.128.0.1", "64:ff9b::808:808", "2002:808:808::1"] {
            #expect(try #require(IPAddress(text)).isPublic, "\(text)")
        }
        for text in [
            "127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1",
            "::1", "::", "fe80::1", "fd00::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "[::1]", "64:ff9b::a9fe:a9fe", "2002:a00:1::1",
            "::ffff:0:127.0.0.1", "[::ffff:0:127.0.0.1]",
        ] {
            #expect(try #require(IPAddress(text)).isPublic == false, "\(text)")
        }
        #expect(IPAddress("example.com") == nil)
        #expect(ReceiverAddress.problem(withURL: "http://example%00.com/hook", allowPrivate: false) != nil)
        #expect(ReceiverAddress.problem(withURL: "http://[::ffff:0:127.0.0.1]/hook", allowPrivate: false) != nil)
        #expect(ReceiverAddress.problem(withURL: "https://hooks.example.com/hook", allowPrivate: false) == nil)
        await #expect {
            try await ReceiverAddress.check(host: "no-such-host.invalid", allowPrivate: false)
        } throws: { ($0 as? DeliveryError)?.isFinal == true }
        await #expect(throws: DeliveryError.self) { try await ReceiverAddress.check(host: "localhost", allowPrivate: false) }
        #expect(try await ReceiverAddress.check(host: "localhost", allowPrivate: true) == nil, "nothing to pin")
        #expect(try await ReceiverAddress.check(host: "8.8.8.8", allowPrivate: false) == IPAddress("8.8.8.8"), "pinned")
    }

    @Test("the signature matches the Standard Webhooks specification's example")
    func signatureVector() {
        let signature = WebhookSignature.header(
            id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: Data(#"{"test": 2432232314}"#.utf8),
            secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }
}
