import Conduit
import ConduitTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import ConduitChat
@testable import ConduitCore

/// The gateway's embedding models at `/v1/embeddings`: remote deployments, the node's own model as a
/// deployment, fallbacks between them, and the route on a node without a model of its own.
@Suite("Gateway embeddings")
struct GatewayEmbeddingsTests {
    static func models(_ port: Int) -> [GatewayModel] {
        [
            GatewayModel(name: "smart", deployments: [ChatGatewayTests.deployment("chat", port: port)]),
            GatewayModel(
                name: "remote-embed", kind: .embedding, aliases: ["text-embedding-3-small"],
                deployments: [ChatGatewayTests.deployment("a", port: port, contextWindow: 512)]),
            GatewayModel(
                name: "local-first", kind: .embedding, fallbacks: ["remote-embed"],
                deployments: [
                    GatewayDeployment(id: "mini", provider: .local, baseURL: GatewayDeployment.inProcess, model: "all-MiniLM-L6-v2")
                ]),
            GatewayModel(
                name: "broken-local", kind: .embedding, fallbacks: ["remote-embed"],
                deployments: [
                    GatewayDeployment(id: "missing", provider: .local, baseURL: GatewayDeployment.inProcess, model: "not-loaded-here")
                ]),
        ]
    }

    static func embed(_ client: some TestClientProtocol, _ body: String) async throws -> (TestResponse, [String: Any]) {
        let response = try await client.execute(
            uri: "/v1/embeddings", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body))
        return (response, (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))) as? [String: Any] ?? [:])
    }

    static func vectors(_ json: [String: Any]) -> [[Double]] {
        (json["data"] as? [[String: Any]] ?? []).map { $0["embedding"] as? [Double] ?? [] }
    }

    @Test(
        "a remote embedding model goes to its deployment with the body untouched but for the model, and is retried there; its kind is listed; the other kind's route refuses it"
    )
    func remote() async throws {
        try await ChatGatewayTests.withGateway(Self.models) { provider, client in
            let (response, json) = try await Self.embed(
                client, #"{"model":"text-embedding-3-small","input":["one","two"],"dimensions":3,"encoding_format":"float"}"#)
            #expect(response.status == .ok && response.headers[ChatGatewayTests.deploymentHeader] == "a")
            #expect(Self.vectors(json) == [[0, 0.5, 1], [1, 0.5, 1]], "the provider's answer, passed through")
            let sent = try #require(provider.calls(to: "a").last)
            #expect(sent.body["model"] == "upstream-a" && sent.body["dimensions"] == 3 && sent.body["encoding_format"] == "float")
            #expect(sent.authorization == "Bearer key-of-a")

            provider.script("a", [.status(503)])
            let (retried, _) = try await Self.embed(client, #"{"model":"remote-embed","input":"again"}"#)
            #expect(retried.status == .ok && retried.headers[ChatGatewayTests.attemptsHeader] == "2")

            // An input longer than the deployment's window has nowhere to go.
            let long = String(repeating: "word ", count: 1000)
            let (tooLong, refusal) = try await Self.embed(client, #"{"model":"remote-embed","input":"\#(long)"}"#)
            #expect(tooLong.status == .badRequest && ChatGatewayTests.code(refusal) == "context_length_exceeded")
            let (empty, emptyRefusal) = try await Self.embed(client, #"{"model":"remote-embed","input":[]}"#)
            #expect(empty.status == .badRequest && ChatGatewayTests.code(emptyRefusal) == "invalid_value")
            let (chatModel, chatRefusal) = try await Self.embed(client, #"{"model":"smart","input":"x"}"#)
            #expect(chatModel.status == .badRequest && ChatGatewayTests.code(chatRefusal) == "wrong_model_kind")
            let (asChat, asChatRefusal) = try await ChatGatewayTests.post(
                client, #"{"model":"remote-embed","messages":[{"role":"user","content":"hi"}]}"#)
            #expect(asChat.status == .badRequest && ChatGatewayTests.code(asChatRefusal) == "wrong_model_kind")
            #expect(provider.calls(to: "a").count == 3, "no refused request reached the provider")

            let listing = try await client.execute(uri: "/v1/models", method: .get)
            let data =
                ((try JSONSerialization.jsonObject(with: Data(listing.body.readableBytesView))) as? [String: Any])?["data"]
                as? [[String: Any]]
            let kinds = Dictionary(uniqueKeysWithValues: (data ?? []).map { ($0["id"] as? String ?? "", $0["kind"] as? String ?? "") })
            #expect(kinds["remote-embed"] == "embedding" && kinds["smart"] == "chat" && kinds["all-MiniLM-L6-v2"] == "embedding")
        }
    }

    @Test(
        "the node's own model is a deployment like the others: computed in process, the same vector as the local route gives; a local deployment that cannot serve falls back to a remote model"
    )
    func local() async throws {
        try await ChatGatewayTests.withGateway(Self.models) { provider, client in
            let (direct, directJSON) = try await Self.embed(client, #"{"model":"all-MiniLM-L6-v2","input":"where is my parcel"}"#)
            #expect(direct.status == .ok && direct.headers[ChatGatewayTests.deploymentHeader] == nil, "the local route, as before")
            let (routed, routedJSON) = try await Self.embed(client, #"{"model":"local-first","input":"where is my parcel"}"#)
            #expect(routed.status == .ok && routed.headers[ChatGatewayTests.deploymentHeader] == "mini")
            #expect(Self.vectors(routedJSON).first?.count == 384 && Self.vectors(routedJSON) == Self.vectors(directJSON))
            #expect((routedJSON["usage"] as? [String: Any])?["prompt_tokens"] as? Int == 6)

            let (fellBack, fellBackJSON) = try await Self.embed(client, #"{"model":"broken-local","input":"where is my parcel"}"#)
            #expect(fellBack.status == .ok && fellBack.headers[ChatGatewayTests.fallbackHeader] == "remote-embed")
            #expect(fellBack.headers[ChatGatewayTests.deploymentHeader] == "a" && Self.vectors(fellBackJSON).count == 1)

            // The local model's own refusal of an input (too many of them) is its, not a provider's.
            let many = Array(repeating: "\"x\"", count: 5000).joined(separator: ",")
            let (refused, refusal) = try await Self.embed(client, #"{"model":"local-first","input":[\#(many)]}"#)
            #expect(refused.status.code / 100 == 4 && ChatGatewayTests.code(refusal) == "too_many_inputs", "\(refused.status) \(refusal)")
            #expect(provider.calls(to: "a").count == 1)
        }
    }

    @Test("a node that runs the gateway without a model of its own still serves the gateway's embedding models at /v1/embeddings")
    func gatewayOnlyNode() async throws {
        let provider = FakeProvider()
        try await provider.application().test(.live) { providerClient in
            let (app, _) = try TestServer.application { configuration in
                configuration.chat.models = try! GatewayModelTable(Self.models(providerClient.port!))
                configuration.server.features = ["chat"]
            }
            try await app.test(.router) { client in
                let (response, json) = try await Self.embed(client, #"{"model":"remote-embed","input":"x"}"#)
                #expect(response.status == .ok && Self.vectors(json) == [[0, 0.5, 1]])
                let (local, localJSON) = try await Self.embed(client, #"{"model":"local-first","input":"x"}"#)
                #expect(local.status == .ok && local.headers[ChatGatewayTests.fallbackHeader] == "remote-embed", "\(localJSON)")
                let (unknown, refusal) = try await Self.embed(client, #"{"model":"all-MiniLM-L6-v2","input":"x"}"#)
                #expect(unknown.status == .notFound && ChatGatewayTests.code(refusal) == "model_not_found")
            }
        }
    }
}
