import Conduit
import ConduitTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import ConduitCore
@testable import ConduitEmbeddings
@testable import ConduitInsights

/// `POST /v1/embeddings` as the OpenAI SDKs use it, and every way of sending it bad input.
@Suite("Embeddings API")
struct EmbeddingsAPITests {
    struct EmbeddingList: Decodable {
        struct Item: Decodable {
            let object: String
            let index: Int
            let embedding: Embedding
        }
        struct Usage: Decodable {
            let prompt_tokens: Int
            let total_tokens: Int
        }
        let object: String
        let data: [Item]
        let model: String
        let usage: Usage
    }

    /// `embedding` is an array of numbers or, with base64, a string of little-endian float32.
    enum Embedding: Decodable {
        case floats([Float])
        case base64(String)
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                self = .base64(text)
            } else {
                self = .floats(try container.decode([Float].self))
            }
        }
        var vector: [Float] {
            switch self {
            case .floats(let values): return values
            case .base64(let text):
                let data = Data(base64Encoded: text)!
                return data.withUnsafeBytes { raw in
                    (0..<data.count / 4).map {
                        Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))
                    }
                }
            }
        }
    }

    struct ErrorBody: Decodable {
        struct Detail: Decodable {
            let message: String
            let type: String
            let param: String?
            let code: String?
        }
        let error: Detail
    }

    static let json: HTTPFields = [.contentType: "application/json"]

    private func post(
        _ client: some TestClientProtocol, _ body: String, path: String = "/v1/embeddings",
        headers: HTTPFields = json
    ) async throws -> TestResponse {
        try await client.execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: body))
    }

    private func decode<T: Decodable>(_ type: T.Type, _ response: TestResponse) throws -> T {
        try JSONDecoder().decode(type, from: Data(response.body.readableBytesView))
    }

    @Test("a string, an array of strings, token ids and arrays of token ids all embed, matching the reference")
    func inputShapes() async throws {
        let (app, _) = try TestServer.application()
        let reference = try #require(TestModel.reference)
        let item = reference.items.first { $0.text == "tokenizer" }!
        try await app.test(.router) { client in
            for body in [
                #"{"input":"tokenizer","model":"all-MiniLM-L6-v2"}"#,
                #"{"input":["tokenizer","tokenizer"]}"#,
                #"{"input":\#(item.input_ids)}"#,
                #"{"input":[\#(item.input_ids),\#(item.input_ids)]}"#,
            ] {
                let response = try await post(client, body)
                #expect(response.status == .ok, "\(body)")
                #expect(response.headers[.contentType] == "application/json")
                // Where the time went, as text-embeddings-inference reports it: whole milliseconds.
                let times = ["x-tokenization-time", "x-queue-time", "x-inference-time", "x-total-time"].map { name in
                    response.headers[HTTPField.Name(name)!].flatMap { Int($0) }
                }
                #expect(times.allSatisfy { $0 != nil }, "\(body)")
                if let queue = times[1], let inference = times[2], let total = times[3] { #expect(total + 1 >= queue + inference) }
                let list = try decode(EmbeddingList.self, response)
                #expect(list.object == "list" && list.model == "all-MiniLM-L6-v2")
                #expect(list.data.map(\.index) == Array(0..<list.data.count))
                #expect(list.usage.prompt_tokens == 4 * list.data.count && list.usage.total_tokens == list.usage.prompt_tokens)
                for entry in list.data {
                    #expect(entry.object == "embedding")
                    #expect(cosine(entry.embedding.vector, item.embedding) > 0.9999)
                }
            }
        }
    }

    @Test("base64 carries the same little-endian float32 vector as float")
    func base64() async throws {
        let (app, _) = try TestServer.application()
        try await app.test(.router) { client in
            let floats = try decode(EmbeddingList.self, try await post(client, #"{"input":"base64 please","encoding_format":"float"}"#))
            let packed = try decode(EmbeddingList.self, try await post(client, #"{"input":"base64 please","encoding_format":"base64"}"#))
            guard case .base64 = packed.data[0].embedding else {
                Issue.record("not base64")
                return
            }
            #expect(packed.data[0].embedding.vector == floats.data[0].embedding.vector)
            #expect(packed.data[0].embedding.vector.count == 384)
        }
    }

    @Test("dimensions truncates then renormalises")
    func dimensions() async throws {
        let (app, _) = try TestServer.application()
        try await app.test(.router) { client in
            let full = try decode(EmbeddingList.self, try await post(client, #"{"input":"shorter please"}"#)).data[0].embedding.vector
            let short = try decode(EmbeddingList.self, try await post(client, #"{"input":"shorter please","dimensions":64}"#)).data[0]
                .embedding.vector
            #expect(short.count == 64)
            #expect(abs(short.reduce(0) { $0 + $1 * $1 } - 1) < 1e-5)
            #expect(cosine(short, Array(full.prefix(64))) > 0.99999)
        }
    }

    @Test("the model alias and an absent model reach the same model")
    func aliases() async throws {
        let (app, _) = try TestServer.application()
        try await app.test(.router) { client in
            for body in [#"{"input":"x","model":"sentence-transformers/all-MiniLM-L6-v2"}"#, #"{"input":"x"}"#] {
                let list = try decode(EmbeddingList.self, try await post(client, body))
                #expect(list.model == "all-MiniLM-L6-v2")
            }
        }
    }

    @Test(
        "bad input gets its 4xx in the OpenAI error shape",
        arguments: [
            (#"{"input":"#, 400, "invalid_json", nil),
            ("", 400, "invalid_json", nil),
            ("[1,2]", 400, "invalid_type", nil),
            (#"{"model":"all-MiniLM-L6-v2"}"#, 400, "missing_parameter", "input"),
            (#"{"input":42}"#, 400, "invalid_type", "input"),
            (#"{"input":[1,"a"]}"#, 400, "invalid_type", "input"),
            (#"{"input":{"text":"a"}}"#, 400, "invalid_type", "input"),
            (#"{"input":null}"#, 400, "invalid_type", "input"),
            (#"{"input":""}"#, 400, "empty_input", "input"),
            (#"{"input":[]}"#, 400, "empty_input", "input"),
            (#"{"input":["ok",""]}"#, 400, "empty_input", "input"),
            (#"{"input":[[]]}"#, 400, "empty_input", "input"),
            (#"{"input":[-1]}"#, 400, "invalid_token_id", "input"),
            (#"{"input":[99999999999]}"#, 400, "invalid_token_id", "input"),
            (#"{"input":[1.5]}"#, 400, "invalid_type", "input"),
            (#"{"input":"x","model":"gpt-unknown"}"#, 404, "model_not_found", "model"),
            (#"{"input":"x","model":7}"#, 400, "invalid_type", "model"),
            (#"{"input":"x","encoding_format":"int8"}"#, 400, "invalid_value", "encoding_format"),
            (#"{"input":"x","dimensions":0}"#, 400, "invalid_value", "dimensions"),
            (#"{"input":"x","dimensions":385}"#, 400, "invalid_value", "dimensions"),
            (#"{"input":"x","dimensions":"64"}"#, 400, "invalid_type", "dimensions"),
        ] as [(String, Int, String, String?)])
    func badInput(body: String, status: Int, code: String, param: String?) async throws {
        let (app, _) = try TestServer.application()
        try await app.test(.router) { client in
            let response = try await post(client, body)
            #expect(response.status.code == status, "\(body)")
            #expect(response.headers[HTTPField.Name("x-request-id")!] != nil)
            let error = try decode(ErrorBody.self, response).error
            #expect(error.code == code, "\(body): \(error.message)")
            #expect(error.param == param)
            #expect(error.type == "invalid_request_error")
            #expect(!error.message.isEmpty)
        }
    }

    @Test("too many inputs, too many tokens in one request, over-long inputs without truncation, and oversized bodies are refused")
    func limits() async throws {
        let (app, _) = try TestServer.application {
            $0.limits = APILimits(maxBodyBytes: 4096, maxInputs: 4, maxRequestTokens: 40, truncate: false)
        }
        try await app.test(.router) { client in
            let many = try await post(client, #"{"input":["a","b","c","d","e"]}"#)
            #expect(many.status == .badRequest)
            #expect(try decode(ErrorBody.self, many).error.code == "too_many_inputs")
            // 4 inputs of 12 tokens each ([CLS] + 10 words + [SEP]): 48 tokens, over the 40 one request may hold.
            let sentence = Array(repeating: "word", count: 10).joined(separator: " ")
            let heavy = try await post(client, #"{"input":["\#(sentence)","\#(sentence)","\#(sentence)","\#(sentence)"]}"#)
            #expect(heavy.status == .badRequest)
            #expect(try decode(ErrorBody.self, heavy).error.code == "request_too_large")
            #expect(try await post(client, #"{"input":["\#(sentence)","\#(sentence)","\#(sentence)"]}"#).status == .ok)

            let longText = Array(repeating: "word", count: 300).joined(separator: " ")
            let long = try await post(client, #"{"input":"\#(longText)"}"#)
            #expect(long.status == .badRequest)
            let error = try decode(ErrorBody.self, long).error
            #expect(error.code == "input_too_long" && error.message.contains("256"))
            let longIDs = try await post(client, #"{"input":\#(Array(repeating: 2773, count: 300))}"#)
            #expect(try decode(ErrorBody.self, longIDs).error.code == "input_too_long")
            let longTokenize = try await client.execute(
                uri: "/v1/tokenize", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"inputs":"\#(longText)"}"#))
            #expect(longTokenize.status == .badRequest)
            #expect(try decode(ErrorBody.self, longTokenize).error.code == "input_too_long")

            let huge = String(repeating: "x", count: 5000)
            let big = try await post(client, #"{"input":"\#(huge)"}"#)
            #expect(big.status == .contentTooLarge)
            #expect(try decode(ErrorBody.self, big).error.code == "body_too_large")
        }
    }

    @Test("over-long inputs are truncated to the model's limit when truncation is on")
    func truncation() async throws {
        let (app, _) = try TestServer.application()
        try await app.test(.router) { client in
            let longText = Array(repeating: "word", count: 300).joined(separator: " ")
            let list = try decode(EmbeddingList.self, try await post(client, #"{"input":"\#(longText)"}"#))
            #expect(list.usage.prompt_tokens == 256)
        }
    }

    @Test("a body not declared exactly application/json (parameters aside) is refused with 415, a missing Content-Type too")
    func mediaType() async throws {
        let (app, _) = try TestServer.application()
        try await app.test(.router) { client in
            let response = try await post(client, "input=x", headers: [.contentType: "application/x-www-form-urlencoded"])
            #expect(response.status == .unsupportedMediaType)
            #expect(try decode(ErrorBody.self, response).error.code == "unsupported_media_type")
            let body = #"{"input":"x"}"#
            for refused: HTTPFields in [
                [.contentType: "application/jsonx"], [.contentType: "text/json"], [.contentType: "application/json-seq"], [:],
                [.contentType: "application/json, application/json"],
            ] {
                #expect(try await post(client, body, headers: refused).status == .unsupportedMediaType, "\(refused)")
            }
            for accepted: HTTPFields in [[.contentType: "application/json; charset=utf-8"], [.contentType: "Application/JSON"]] {
                #expect(try await post(client, body, headers: accepted).status == .ok, "\(accepted)")
            }
        }
    }

    @Test("a path asked with a method it is not served with is 405 with Allow; an unknown path stays 404")
    func methodNotAllowed() async throws {
        let (app, _) = try TestServer.application()
        try await app.test(.router) { client in
            let wrong = try await client.execute(uri: "/v1/embeddings", method: .get)
            #expect(wrong.status == .methodNotAllowed)
            #expect(wrong.headers[.allow] == "POST")
            #expect(try decode(ErrorBody.self, wrong).error.code == "method_not_allowed")
            let withID = try await client.execute(uri: "/v1/models/some-model", method: .put)
            #expect(withID.status == .methodNotAllowed && withID.headers[.allow] == "GET")
            #expect(try await client.execute(uri: "/v1/nothing-here", method: .get).status == .notFound)
            #expect(try await client.execute(uri: "/v1/models/some-model", method: .get).status == .notFound, "a route's own 404 stays")
        }
    }

    @Test("every response carries x-request-id, echoing the caller's")
    func requestID() async throws {
        let (app, _) = try TestServer.application()
        try await app.test(.router) { client in
            let echoed = try await client.execute(uri: "/health/live", method: .get, headers: [HTTPField.Name("x-request-id")!: "abc-123"])
            #expect(echoed.headers[HTTPField.Name("x-request-id")!] == "abc-123")
            for (uri, method) in [("/nowhere", HTTPRequest.Method.get), ("/v1/models", .get), ("/v1/embeddings", .get)] {
                let response = try await client.execute(uri: uri, method: method)
                #expect(response.headers[HTTPField.Name("x-request-id")!]?.isEmpty == false, "\(uri)")
            }
            let missing = try await client.execute(uri: "/nowhere", method: .get)
            #expect(missing.status == .notFound)
            #expect(try decode(ErrorBody.self, missing).error.code == "not_found")
        }
    }
}

@Suite("Backpressure over HTTP")
struct BackpressureAPITests {
    @Test("past the queue bound the API answers 503 with Retry-After at once, in the error shape")
    func overloaded() async throws {
        let model = try await TestServer.ownModel()
        let (app, scheduler) = try TestServer.application(model: model) {
            $0.scheduler = SchedulerConfiguration(maxQueuedTokens: 64, maxQueuedRequests: 1)
        }
        try await app.test(.router) { client in
            async let heavy = scheduler.embed(SchedulerTests.heavyRequest(model))
            try await Task.sleep(for: .milliseconds(20))
            let responses = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for index in 0..<6 {
                    group.addTask {
                        try await client.execute(
                            uri: "/v1/embeddings", method: .post, headers: [.contentType: "application/json"],
                            body: ByteBuffer(string: #"{"input":"request \#(index)"}"#))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            _ = try await heavy
            let refused = responses.filter { $0.status == .serviceUnavailable }
            #expect(refused.count >= 4, "\(responses.map(\.status.code))")
            #expect(responses.allSatisfy { $0.status == .ok || $0.status == .serviceUnavailable })
            for response in refused {
                #expect(response.headers[.retryAfter] == "1")
                let error = try JSONDecoder().decode(EmbeddingsAPITests.ErrorBody.self, from: Data(response.body.readableBytesView)).error
                #expect(error.code == "overloaded" && error.type == "server_error")
            }
        }
    }

    @Test(
        "a node past what it can compute refuses a request before its body has arrived, on a node that also runs the chat gateway (without embedding models of its own)"
    )
    func refusedBeforeTheBody() async throws {
        let model = try await TestServer.ownModel()
        let (app, scheduler) = try TestServer.application(model: model) {
            $0.scheduler = SchedulerConfiguration(maxQueuedTokens: 64, maxQueuedRequests: 1)
        }
        try await app.test(.live) { client in
            let port = try #require(client.port)
            async let heavy = scheduler.embed(SchedulerTests.heavyRequest(model))
            try await SchedulerTests.untilEveryLaneBusy(scheduler)
            // What of the heavy request is not in a batch yet, or else this one, takes the queue's one place.
            let queued = Task { try? await scheduler.embed([[101, 7, 102]]) }
            try await SchedulerTests.untilQueued(scheduler, requests: 1)
            // Ten of the body's 100,000 bytes: an answer can only come before the rest is read.
            let head = "POST /v1/embeddings HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
            let answer = try await RawHTTP.exchange(port: port, send: head + #"{"input":"#, wait: .seconds(3)).bytes
            #expect(answer.hasPrefix("HTTP/1.1 503") && answer.contains(#""code":"overloaded""#), "\(answer.prefix(300))")
            #expect(RawHTTP.header("Retry-After", in: answer) != nil)
            _ = try await heavy
            _ = await queued.value
        }
    }

    @Test(
        "while the request count still allows, a body whose Content-Length holds more tokens than the queue has room for is refused before it has arrived"
    )
    func refusedBySizeBeforeTheBody() async throws {
        let model = try await TestServer.ownModel()
        let backend = GatedBackend()
        let scheduler = EmbeddingScheduler(
            backend: backend, configuration: .init(maxQueuedTokens: 1_000, maxQueuedRequests: 10), logger: TestServer.logger)
        let catalog = ModelCatalog(models: [
            ServedModel(name: "all-MiniLM-L6-v2", aliases: [], model: model, scheduler: scheduler, created: 0)
        ])
        let app = try buildApplication(
            catalog: catalog, configuration: LiveConfiguration(ServerConfiguration(port: 0)), logger: TestServer.logger)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            async let busy = scheduler.embed([[101, 7, 102]])  // holds every lane until the gate opens
            try await backend.untilStarted(1)
            // 600 tokens in 3,000 bytes waits: 0.2 tokens a byte, and 400 tokens of room left.
            let waiting = Task { try await scheduler.embedTimed([Array(repeating: 7, count: 600)], bodyBytes: 3_000) }
            try await SchedulerTests.untilQueued(scheduler, requests: 1)
            // 5,000 bytes: at least 1,000 tokens. One request of ten is queued, so only its size refuses it.
            let head = "POST /v1/embeddings HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
            let answer = try await RawHTTP.exchange(port: port, send: head + #"{"input":"#, wait: .seconds(3)).bytes
            #expect(answer.hasPrefix("HTTP/1.1 503") && answer.contains(#""code":"overloaded""#), "\(answer.prefix(300))")
            backend.open()
            _ = try await (busy, waiting.value)
        }
    }
}
