import Conduit
import ConduitTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ServiceLifecycle
import Testing

@testable import ConduitCore

@Suite("Models, tokenize and health")
struct ServiceAPITests {
    @Test("GET /v1/models lists the model with its alias and limits")
    func models() async throws {
        let (app, _) = try TestServer.application()
        try await app.test(.router) { client in
            let response = try await client.execute(uri: "/v1/models", method: .get)
            let json = try #require(JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
            #expect(json["object"] as? String == "list")
            let model = try #require((json["data"] as? [[String: Any]])?.first)
            #expect(model["id"] as? String == "all-MiniLM-L6-v2")
            #expect(model["object"] as? String == "model")
            #expect(model["aliases"] as? [String] == ["sentence-transformers/all-MiniLM-L6-v2"])
            #expect(model["dimensions"] as? Int == 384 && model["max_input_tokens"] as? Int == 256)
            #expect(model["precision"] as? String == "fp32")
            #expect(try await client.execute(uri: "/v1/models/sentence-transformers/all-MiniLM-L6-v2", method: .get).status == .notFound)
            #expect(try await client.execute(uri: "/v1/models/all-MiniLM-L6-v2", method: .get).status == .ok)
        }
    }

    @Test("readiness turns true once the server listens and false as soon as graceful shutdown begins")
    func readinessFollowsShutdown() async throws {
        let readiness = Readiness()
        let (app, _) = try TestServer.application(readiness: readiness)
        let group = ServiceGroup(services: [ReadinessOnShutdown(app, readiness: readiness)], logger: TestServer.logger)
        let running = Task { try await group.run() }
        try await eventually(every: .milliseconds(10)) { readiness.isReady }
        #expect(readiness.isReady)
        await group.triggerGracefulShutdown()
        try await eventually(within: .seconds(10), every: .milliseconds(1)) { !readiness.isReady }
        #expect(!readiness.isReady)
        try await running.value
    }

    @Test("POST /v1/tokenize returns ids, token text, special flags and byte offsets")
    func tokenize() async throws {
        let (app, _) = try TestServer.application()
        try await app.test(.router) { client in
            let response = try await client.execute(
                uri: "/v1/tokenize", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"inputs":["Zürich tokenizer"]}"#))
            #expect(response.status == .ok)
            let tokens = try #require(JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [[[String: Any]]])
            #expect(tokens[0].map { $0["id"] as? Int } == [101, 10204, 19204, 17629, 102])
            #expect(tokens[0].map { $0["text"] as? String } == ["[CLS]", "zurich", "token", "##izer", "[SEP]"])
            #expect(tokens[0][1]["start"] as? Int == 0 && tokens[0][1]["stop"] as? Int == 7)
            #expect(tokens[0][0]["special"] as? Bool == true && tokens[0][0]["start"] is NSNull)
            let bad = try await client.execute(
                uri: "/v1/tokenize", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"inputs":5}"#))
            #expect(bad.status == .badRequest)
        }
    }

    @Test("health: live always, ready once the server runs")
    func health() async throws {
        let (app, _) = try TestServer.application()
        try await app.test(.live) { client in
            #expect(try await client.execute(uri: "/health/live", method: .get).status == .ok)
            let ready = try await client.execute(uri: "/health/ready", method: .get)
            #expect(ready.status == .ok)
            #expect(String(buffer: ready.body) == #"{"status":"ready"}"#)
        }
    }

    @Test("a declared Content-Length over the limit is refused before the body is read")
    func contentLengthLimit() async throws {
        let (app, _) = try TestServer.application { $0.limits.maxBodyBytes = 100 }
        try await app.test(.live) { client in
            let response = try await client.execute(
                uri: "/v1/embeddings", method: .post,
                headers: [.contentType: "application/json", .contentLength: "1000000"],
                body: ByteBuffer(string: String(repeating: " ", count: 1000)))
            #expect(response.status == .contentTooLarge)
        }
    }
}
