import ConduitTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Store
import Testing

@testable import Conduit
@testable import ConduitCore
@testable import ConduitEmbeddings

/// `server.features`: a node runs the features it is given and nothing of the others, so that several
/// nodes on one database can each run a part.
@Suite("Node features")
struct NodeFeaturesTests {
    private func status(_ client: some TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, body: String? = nil) async throws
        -> HTTPResponse.Status
    {
        let headers: HTTPFields = body == nil ? [:] : [.contentType: "application/json"]
        return try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }).status
    }

    @Test("a gateway without the embeddings feature loads no model and serves the other features' routes, not the model's")
    func withoutTheModel() async throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "features-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        var configuration = ServerConfiguration(port: 0, dataDirectory: folder)
        configuration.server.features = ["jobs", "webhooks", "admin"]
        // A model folder that does not exist: loading it would fail the start.
        configuration.model.directory = folder.appending(path: "no-model-here")
        let app = try await buildApplication(configuration: configuration, logger: TestServer.logger)
        try await app.test(.router) { client in
            let model: [(HTTPRequest.Method, String)] = [
                (.post, "/v1/embeddings"), (.post, "/v1/tokenize"), (.get, "/v1/admin/debug"), (.post, "/v1/chat/completions"),
            ]
            for (method, uri) in model {
                let answer = try await status(client, method, uri, body: "{}")
                #expect(answer == .notFound, "\(method) \(uri)")
            }
            // Every node lists what it serves: here, nothing.
            let models = try await client.execute(uri: "/v1/models", method: .get)
            #expect(models.status == .ok && String(buffer: models.body) == #"{"data":[],"object":"list"}"#)
            let conversations = try await status(client, .post, "/v1/conversations", body: #"{"messages": []}"#)
            #expect(conversations == .notFound)
            let webhooks = try await status(client, .get, "/v1/webhooks")
            #expect(webhooks == .ok)
            // Events that other nodes record (insights) can be subscribed to here.
            let subscription = try await status(
                client, .post, "/v1/webhooks", body: #"{"url": "https://example.com/hook", "topics": ["insight.created"]}"#)
            #expect(subscription == .created)
            let jobs = try await status(client, .get, "/v1/jobs")
            #expect(jobs == .ok)
            // No feature of this node makes embedding jobs, so /v1/jobs does not take them.
            let embeddingJob = try await status(client, .post, "/v1/jobs", body: #"{"kind": "embeddings", "input": ["a"]}"#)
            #expect(embeddingJob == .badRequest)
        }
    }

    @Test("an embeddings-only node serves the model and none of the stored features")
    func embeddingsOnly() async throws {
        try await TestDatabase.with(.sqlite) { store in
            var configuration = ServerConfiguration(port: 0)
            configuration.server.features = ["embeddings"]
            let scheduler = EmbeddingScheduler(
                backend: try TestServer.model(), configuration: configuration.scheduler, logger: TestServer.logger)
            let catalog = ModelCatalog(models: [
                ServedModel(name: "all-MiniLM-L6-v2", aliases: [], model: try TestServer.model(), scheduler: scheduler, created: 0)
            ])
            let app = try buildApplication(
                catalog: catalog, configuration: LiveConfiguration(configuration), store: store, logger: TestServer.logger)
            try await app.test(.router) { client in
                let embeddings = try await status(client, .post, "/v1/embeddings", body: #"{"input": "hello"}"#)
                #expect(embeddings == .ok)
                let models = try await status(client, .get, "/v1/models")
                #expect(models == .ok)
                for uri in ["/v1/jobs", "/v1/webhooks", "/v1/admin/keys", "/v1/insights"] {
                    let answer = try await status(client, .get, uri)
                    #expect(answer == .notFound, "\(uri)")
                }
            }
        }
    }

    @Test("insights without embeddings, or a feature that does not exist, is refused at start, naming the setting")
    func refusedCombinations() async throws {
        var configuration = ServerConfiguration(port: 0)
        configuration.server.features = ["insights", "jobs"]
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
        do {
            try configuration.validate()
        } catch {
            #expect("\(error)".contains("server.features"))
        }
        let source = ConfigurationSource(file: nil, environment: ["CONDUIT_SERVER_FEATURES": "embeddings,telepathy"])
        await #expect(throws: ConfigurationProblems.self) { try await source.load() }
    }
}
