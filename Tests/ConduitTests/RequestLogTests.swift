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
@testable import ConduitCore

extension EndToEnd {
    @Suite("Request log and replay")
    struct RequestLogTests {
        private func call(
            _ client: some TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, key: String, body: String? = nil
        ) async throws -> TestResponse {
            var headers: HTTPFields = [.authorization: "Bearer \(key)"]
            if body != nil { headers[.contentType] = "application/json" }
            return try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        }

        /// Waits for the request logged under `id` (the log is written once a second).
        private func logged(_ id: String?, in store: Database) async throws -> LoggedRequest? {
            let id = try #require(id)
            return try await eventually(within: .seconds(10), every: .milliseconds(100)) { try await store.requestLog.find(id) }
        }

        @Test(
            "requests on a logged route or by a logged key are kept with their answers and the secrets in either redacted; others are not, logins never; past the retention they are deleted",
            arguments: Backend.allCases)
        func keepsWhatIsSelected(_ backend: Backend) async throws {
            try await TestDatabase.withTeam(backend) { store, team in
                let admin = try await store.keys.create(name: "admin", teamID: team.id, scopes: [.admin, .embeddings])
                let watched = try await store.keys.create(name: "watched", teamID: team.id, scopes: [.embeddings])
                let app = try TestServer.authenticatedApplication(store: store) {
                    $0.requestLog.routes = ["/v1/embeddings", "/v1/admin/keys/{id}/rotate", "/v1/admin/keys", "/v1/auth/login"]
                    $0.auth.jwtSecret = String(repeating: "j", count: 40)
                    $0.requestLog.keys = [watched.key.id]
                    $0.requestLog.redactedFields = ["user"]
                }
                try await app.test(.router) { client in
                    let embedded = try await call(
                        client, .post, "/v1/embeddings", key: admin.secret,
                        body: #"{"input":["first text","second"],"user":"alice@example.com"}"#)
                    #expect(embedded.status == .ok)
                    let refused = try await call(client, .post, "/v1/embeddings", key: admin.secret, body: #"{"input":[]}"#)
                    #expect(refused.status == .badRequest)
                    let created = try await call(client, .post, "/v1/admin/keys", key: admin.secret, body: #"{"name":"new"}"#)
                    let secret = try #require(
                        (try JSONSerialization.jsonObject(with: Data(created.body.readableBytesView)) as? [String: Any])?["secret"]
                            as? String)
                    let login = try await client.execute(
                        uri: "/v1/auth/login", method: .post, headers: [.contentType: "application/json"],
                        body: ByteBuffer(string: #"{"email":"someone@example.com","password":"not the password"}"#))
                    #expect(login.status == .unauthorized)
                    let tokenized = try await call(
                        client, .post, "/v1/tokenize", key: watched.secret, body: #"{"input":"by the watched key"}"#)
                    let unlogged = try await call(client, .post, "/v1/tokenize", key: admin.secret, body: #"{"input":"not logged"}"#)

                    let embedding = try #require(try await logged(embedded.headers[.requestID], in: store))
                    #expect(embedding.method == "POST" && embedding.path == "/v1/embeddings" && embedding.status == 200)
                    #expect(embedding.teamID == team.id && embedding.keyID == admin.key.id)
                    #expect(embedding.requestBody.contains("first text") && !embedding.requestBody.contains("alice@example.com"))
                    #expect(embedding.requestBody.contains(#""user":"[redacted]""#))
                    let vectors = try #require(
                        ReplayComparison.embeddings(try JSONSerialization.jsonObject(with: Data(embedding.responseBody.utf8))))
                    #expect(vectors.count == 2 && vectors.allSatisfy { $0.count == 384 })

                    let error = try #require(try await logged(refused.headers[.requestID], in: store))
                    #expect(error.status == 400 && error.responseBody.contains("empty_input"))
                    let creation = try #require(try await logged(created.headers[.requestID], in: store))
                    #expect(
                        creation.status == 201 && !creation.responseBody.contains(secret) && creation.responseBody.contains("[redacted]"))
                    #expect(try await logged(tokenized.headers[.requestID], in: store)?.keyID == watched.key.id)
                    #expect(try await store.requestLog.find(try #require(unlogged.headers[.requestID])) == nil)
                    #expect(try await store.requestLog.find(try #require(login.headers[.requestID])) == nil, "a login is never logged")

                    try await store.requestLog.prune(before: embedding.createdAt + 1)
                    #expect(try await store.requestLog.find(embedding.requestID) == nil)
                }
            }
        }

        @Test("a route template matches paths with any one segment for each {parameter}")
        func templates() {
            #expect(RequestLogConfiguration.matches(template: "/v1/admin/keys/{id}", path: "/v1/admin/keys/abc"))
            #expect(!RequestLogConfiguration.matches(template: "/v1/admin/keys/{id}", path: "/v1/admin/keys"))
            #expect(!RequestLogConfiguration.matches(template: "/v1/admin/keys/{id}", path: "/v1/admin/keys/abc/rotate"))
            #expect(!RequestLogConfiguration.matches(template: "/v1/embeddings", path: "/v1/tokenize"))
        }

        @Test("a replay compares embeddings by cosine, whether either answer was floats or base64, and other answers by their JSON")
        func comparison() {
            let floats = #"{"data":[{"index":0,"embedding":[1,0]},{"index":1,"embedding":[0.6,0.8]}]}"#
            // [0.8, 0.6] and [0.6, 0.8] as little-endian float32.
            let base64 = [[Float(0.8), 0.6], [0.6, 0.8]].map { vector in
                vector.withUnsafeBytes { Data($0) }.base64EncodedString()
            }
            let changed = #"{"data":[{"index":1,"embedding":"\#(base64[1])"},{"index":0,"embedding":"\#(base64[0])"}]}"#
            let comparison = ReplayComparison(oldStatus: 200, oldBody: floats, newStatus: 200, newBody: Data(changed.utf8))
            #expect(abs((comparison.vectors?.minimumCosine ?? 0) - 0.8) < 1e-6)
            #expect(abs((comparison.vectors?.meanCosine ?? 0) - 0.9) < 1e-6)
            #expect(comparison.summary.contains("status: 200 -> 200") && comparison.summary.contains("min 0.800000"))

            let refused = ReplayComparison(oldStatus: 200, oldBody: floats, newStatus: 401, newBody: Data(#"{"error":{}}"#.utf8))
            #expect(refused.vectors == nil && !refused.sameBody && refused.summary.contains("200 -> 401 (changed)"))
            #expect(
                ReplayComparison(oldStatus: 200, oldBody: #"{"a":[1,2]}"#, newStatus: 200, newBody: Data(#"{"a": [1, 2]}"#.utf8)).sameBody)
        }

        @Test("conduit replay sends a logged request again with the key it is given and shows the status and the cosine of each vector")
        func replay() async throws {
            let model = try #require(TestModel.directory)
            let folder = FileManager.default.temporaryDirectory.appending(path: "conduit-replay-\(UUID().uuidString)")
            let cli = CommandLineTests()
            let key = try #require(
                cli.run(["keys", "create", "--name", "r", "--data-dir", folder.path]).output.split(separator: "\n").last)
            let port = try await LiveServer.freePorts(1)[0]
            let config = folder.appending(path: "conduit.yaml")
            try "request_log:\n  routes: [/v1/embeddings, /v1/admin/keys]\n".write(to: config, atomically: true, encoding: .utf8)
            let admin = try #require(
                cli.run(["keys", "create", "--name", "a", "--scope", "admin", "--data-dir", folder.path]).output.split(separator: "\n").last
            )
            let server = try LiveServer.start([
                "serve", "--auth", "--port", "\(port)", "--config", config.path, "--model-dir", model.path, "--data-dir", folder.path,
            ])
            defer {
                server.terminate()
                server.waitUntilExit()
            }
            try #require(await LiveServer.isReady(port: port))
            let answer = try await RawHTTP.exchange(
                port: port,
                send: RawHTTP.request(
                    "POST", "/v1/embeddings", headers: ["Authorization": "Bearer \(key)", "Content-Type": "application/json"],
                    body: #"{"input":["one text","and another"],"encoding_format":"base64"}"#), wait: .seconds(10))
            #expect(answer.bytes.hasPrefix("HTTP/1.1 200"))
            let requestID = try #require(RawHTTP.header("x-request-id", in: answer.bytes))

            func replay(key: String) async throws -> (status: Int32, output: String, error: String) {
                let arguments = [
                    "replay", requestID, "--server-url", "http://127.0.0.1:\(port)", "--api-key", key, "--data-dir", folder.path,
                ]
                var result: (status: Int32, output: String, error: String)?
                // The log is written once a second: until then the request is not found.
                try await eventually(within: .seconds(10), every: .milliseconds(200)) {
                    result = try cli.run(arguments)
                    return result?.status == 0
                }
                return try #require(result)
            }
            let same = try await replay(key: String(key))
            #expect(same.status == 0, "\(same.error)")
            #expect(
                same.output.contains("status: 200 -> 200") && same.output.contains("embeddings: 2, cosine old/new min 1.000000"),
                "\(same.output)")
            let refused = try await replay(key: "cdt_" + String(repeating: "x", count: 40))
            #expect(
                refused.output.contains("status: 200 -> 401 (changed)") && refused.output.contains("body: different"), "\(refused.output)")
            let creation = try await RawHTTP.exchange(
                port: port,
                send: RawHTTP.request(
                    "POST", "/v1/admin/keys", headers: ["Authorization": "Bearer \(admin)", "Content-Type": "application/json"],
                    body: #"{"name":"made by a logged request"}"#), wait: .seconds(10))
            let creationID = try #require(RawHTTP.header("x-request-id", in: creation.bytes))
            try await Task.sleep(for: .seconds(2))
            let refusedChange = try cli.run(["replay", creationID, "--api-key", String(admin), "--data-dir", folder.path])
            #expect(refusedChange.status != 0 && refusedChange.error.contains("--allow-changes"), "\(refusedChange.error)")
            let missing = try cli.run(["replay", "no-such-request", "--data-dir", folder.path])
            #expect(missing.status != 0 && missing.error.contains("no logged request 'no-such-request'"))
        }
    }
}
