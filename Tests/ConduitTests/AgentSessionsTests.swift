import AsyncHTTPClient
import ConduitTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import Store
import Testing

@testable import Conduit
@testable import ConduitAgents
@testable import ConduitChat
@testable import ConduitCore

@Suite("Agents platform: sessions and turns")
struct AgentSessionsTests {
    private func call(
        _ client: some TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, key: String, body: String? = nil,
        headers extra: HTTPFields = [:]
    ) async throws -> (TestResponse, [String: Any]) {
        var headers: HTTPFields = [.authorization: "Bearer \(key)"]
        headers.append(contentsOf: extra)
        if body != nil { headers[.contentType] = "application/json" }
        let response = try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        let json = (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))) as? [String: Any] ?? [:]
        return (response, json)
    }

    /// A request on a connection of its own (the test client's requests take turns on one): a turn that
    /// runs while the test makes others.
    private func post(_ client: some TestClientProtocol, _ path: String, key: String, body: String) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(try #require(client.port))\(path)")
        request.method = .POST
        request.headers.add(name: "authorization", value: "Bearer \(key)")
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        let data = Data(try await response.body.collect(upTo: 1 << 20).readableBytesView)
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
    }

    /// Changes an agent's file (`old` text to `new`) and reloads the configuration, as a file watcher would.
    typealias AgentEdit = @Sendable (_ agent: String, _ old: String, _ new: String) async throws -> Void

    /// Conduit with the shipped agents and domains, its model `assistant` played by `provider` (priced, so
    /// that turns have a cost) unless `withModel` is false; `body` gets a key of the team and one of another.
    private func withPlatform(
        provider: FakeProvider, withModel: Bool = true,
        _ body:
            @escaping @Sendable (
                _ client: any TestClientProtocol, _ store: Database, _ team: Team, _ key: String, _ stranger: String, _ edit: AgentEdit
            ) async throws -> Void
    ) async throws {
        try await provider.application().test(.live) { providerClient in
            let port = try #require(providerClient.port)
            let (agents, file) = try AgentsAPITests.shippedCopy()
            try await TestDatabase.withTeams(.sqlite) { store, team, other in
                let key = try await store.keys.create(name: "k", teamID: team.id, scopes: [.agents, .chat]).secret
                let stranger = try await store.keys.create(name: "s", teamID: other.id, scopes: [.agents, .chat]).secret
                var configuration = ServerConfiguration(port: 0, authentication: true)
                configuration.agents = try await ConfigurationSource(file: file, environment: [:]).load().configuration.agents
                if withModel {
                    var deployment = ChatGatewayTests.deployment("a", port: port)
                    deployment.inputPricePerMillion = 1
                    deployment.outputPricePerMillion = 2
                    configuration.chat.models = try GatewayModelTable([GatewayModel(name: "assistant", deployments: [deployment])])
                }
                let live = LiveConfiguration(configuration)
                let edit: AgentEdit = { agent, old, new in
                    let path = agents.appending(path: "\(agent).yaml")
                    try String(contentsOf: path, encoding: .utf8).replacingOccurrences(of: old, with: new).write(
                        to: path, atomically: true, encoding: .utf8)
                    var reloaded = try await ConfigurationSource(file: file, environment: [:]).load().configuration
                    reloaded.chat = live.current.chat
                    _ = live.reload(from: reloaded)
                }
                let app = try TestServer.authenticatedApplication(store: store, live: live)
                try await app.test(.live) { client in try await body(client, store, team, key, stranger, edit) }
            }
        }
    }

    private func session(_ client: some TestClientProtocol, key: String, concurrency: String = "reject") async throws -> String {
        let project = try await call(client, .post, "/v1/projects", key: key, body: #"{"name":"Clinic booking"}"#).1
        let projectID = try #require(project["id"] as? String)
        let (created, session) = try await call(
            client, .post, "/v1/projects/\(projectID)/sessions", key: key, body: #"{"title":"kick-off","concurrency":"\#(concurrency)"}"#)
        #expect(created.status == .created, "\(session)")
        return try #require(session["id"] as? String)
    }

    @Test(
        "a turn is routed, answered by the agent's model through the gateway and stored with its routing, output, tokens and cost; the next turn stays with an agent that asked a question; an Idempotency-Key returns the first turn; another team's session is not found; an ended session takes no turn and ends once"
    )
    func turns() async throws {
        let provider = FakeProvider()
        provider.script("a", [.answer("Which clinics take part?"), .answer("Noted: two clinics.")])
        try await withPlatform(provider: provider) { client, store, team, key, stranger, _ in
            let sessionID = try await session(client, key: key)
            let shown = try await call(client, .get, "/v1/sessions/\(sessionID)", key: key).1
            #expect((shown["pinned"] as? [String: Int])?.count == 13 && shown["status"] as? String == "open", "\(shown)")
            #expect(try await call(client, .get, "/v1/sessions/\(sessionID)", key: stranger).0.status == .notFound)

            let input = #"{"input":"Write the user stories and acceptance criteria for booking an appointment"}"#
            let (answered, turn) = try await call(
                client, .post, "/v1/sessions/\(sessionID)/turns", key: key, body: input, headers: [.idempotencyKey: "first"])
            #expect(answered.status == .ok, "\(turn)")
            #expect(turn["status"] as? String == "completed" && turn["output"] as? String == "Which clinics take part? ")
            #expect(turn["agent"] as? String == "requirements-analyst" && turn["agent_version"] as? Int == 1, "\(turn)")
            #expect((turn["routing"] as? [String: Any])?["method"] as? String == "semantic")
            let usage = try #require(turn["usage"] as? [String: Any])
            #expect((usage["prompt_tokens"] as? Int ?? 0) > 0 && (usage["cost_usd"] as? Double ?? 0) > 0, "\(usage)")
            let sent = try #require(provider.calls(to: "a").first)
            let messages = try #require(sent.body["messages"]?.arrayValue)
            let system = messages.first?.objectValue?["content"]?.stringValue ?? ""
            #expect(system.contains("Clinic booking") && !system.contains("{{"), "the prompt is rendered: \(system)")

            let agentsOnly = try await store.keys.create(name: "a", teamID: team.id, scopes: [.agents]).secret
            let unscoped = try await call(client, .post, "/v1/sessions/\(sessionID)/turns", key: agentsOnly, body: input)
            #expect(unscoped.0.status == .forbidden && (unscoped.1["error"] as? [String: Any])?["code"] as? String == "insufficient_scope")

            let replay = try await call(
                client, .post, "/v1/sessions/\(sessionID)/turns", key: key, body: input, headers: [.idempotencyKey: "first"])
            #expect(replay.0.headers[.idempotentReplayed] == "true" && replay.1["id"] as? String == turn["id"] as? String)
            #expect(provider.calls(to: "a").count == 1, "a replay calls no model")

            // The agent asked a question: the answer stays with it, whatever its words; the router says so too.
            let sticky = try await call(
                client, .post, "/v1/route", key: key, body: #"{"input":"Two, in Lyon","session_id":"\#(sessionID)"}"#
            ).1
            #expect(sticky["method"] as? String == "sticky" && sticky["agent"] as? String == "requirements-analyst", "\(sticky)")
            #expect(
                try await call(client, .post, "/v1/route", key: stranger, body: #"{"input":"x","session_id":"\#(sessionID)"}"#).0.status
                    == .notFound)
            let (_, second) = try await call(client, .post, "/v1/sessions/\(sessionID)/turns", key: key, body: #"{"input":"Two, in Lyon"}"#)
            #expect(
                (second["routing"] as? [String: Any])?["method"] as? String == "sticky"
                    && second["agent"] as? String == "requirements-analyst")
            let history = try #require(provider.calls(to: "a").last?.body["messages"]?.arrayValue)
            #expect(history.count == 4, "system, the first turn's question and answer, the new input")

            let explicit = try await call(
                client, .post, "/v1/sessions/\(sessionID)/turns", key: key, body: #"{"input":"Two, in Lyon","agent":"architect"}"#)
            #expect(
                explicit.1["agent"] as? String == "architect"
                    && (explicit.1["routing"] as? [String: Any])?["method"] as? String == "explicit")
            let listed = try #require(
                try await call(client, .get, "/v1/sessions/\(sessionID)/turns", key: key).1["data"] as? [[String: Any]])
            #expect(listed.map { $0["seq"] as? Int } == [1, 2, 3])
            let events = try await store.events.list(teamID: team.id).map(\.topic).filter {
                $0.hasPrefix("turn.") || $0.hasPrefix("agent.") || $0.hasPrefix("session.")
            }
            #expect(events.prefix(4) == ["session.created", "turn.started", "agent.selected", "turn.completed"], "\(events)")

            // The first answer becomes a specification's version, with its lineage, on both sides of the relation.
            let projectID = try #require(shown["project_id"] as? String)
            let specification = try await call(
                client, .post, "/v1/projects/\(projectID)/specifications", key: key, body: #"{"key":"requirements"}"#
            ).1
            let specificationID = try #require(specification["id"] as? String)
            let turnID = try #require(turn["id"] as? String)
            let (written, version) = try await call(
                client, .post, "/v1/specifications/\(specificationID)/versions", key: key,
                body: #"{"base_version":null,"source":{"turn_id":"\#(turnID)"}}"#)
            #expect(written.status == .created, "\(version)")
            #expect(version["body"] as? String == "Which clinics take part? ")
            let source = try #require(version["source"] as? [String: Any])
            #expect(source["session_id"] as? String == sessionID && source["turn_id"] as? String == turnID)
            #expect(source["agent"] as? String == "requirements-analyst" && source["agent_version"] as? Int == 1)
            let produced = try #require(
                try await call(client, .get, "/v1/sessions/\(sessionID)/specifications", key: key).1["data"] as? [[String: Any]])
            #expect(
                produced.map { $0["specification_id"] as? String } == [specificationID] && produced.first?["turn_id"] as? String == turnID)
            let sessions = try #require(
                try await call(client, .get, "/v1/specifications/\(specificationID)/sessions", key: key).1["data"] as? [[String: Any]])
            #expect(sessions.map { $0["session_id"] as? String } == [sessionID])
            #expect(try await call(client, .get, "/v1/sessions/\(sessionID)/specifications", key: stranger).0.status == .notFound)
            let foreign = try await call(
                client, .post, "/v1/specifications/\(specificationID)/versions", key: key,
                body: #"{"base_version":1,"source":{"turn_id":"nope"}}"#)
            #expect(foreign.0.status == .badRequest && (foreign.1["error"] as? [String: Any])?["code"] as? String == "unknown_turn")
            let rewritten = try await call(
                client, .post, "/v1/specifications/\(specificationID)/versions", key: key,
                body: ##"{"base_version":1,"body":"# Other","source":{"turn_id":"\##(turnID)"}}"##)
            #expect(rewritten.0.status == .badRequest, "a turn's version is its answer, not any text")

            #expect(try await call(client, .post, "/v1/sessions/\(sessionID)/end", key: key).0.status == .ok)
            let again = try await call(client, .post, "/v1/sessions/\(sessionID)/end", key: key)
            #expect(again.0.status == .conflict && (again.1["error"] as? [String: Any])?["code"] as? String == "session_ended")
            #expect(try await call(client, .post, "/v1/sessions/\(sessionID)/turns", key: key, body: input).0.status == .conflict)
        }
    }

    @Test(
        "two turns at once: a rejecting session answers the second 409 session_busy naming the first; an enqueuing one runs them in order")
    func concurrency() async throws {
        let provider = FakeProvider()
        provider.script("a", [.heldAfterFirst("first answer")])
        try await withPlatform(provider: provider) { client, _, _, key, _, _ in
            let rejecting = try await session(client, key: key)
            let body = #"{"input":"@data-modeller Which tables and indexes do we need for appointments?"}"#
            async let first = post(client, "/v1/sessions/\(rejecting)/turns", key: key, body: body)
            var running: String?
            try await eventually(within: .seconds(10), every: .milliseconds(20)) {
                running = try await call(client, .get, "/v1/sessions/\(rejecting)", key: key).1["running_turn"] as? String
                return running != nil
            }
            let (busy, refusal) = try await call(client, .post, "/v1/sessions/\(rejecting)/turns", key: key, body: body)
            let error = try #require(refusal["error"] as? [String: Any], "\(busy.status) \(refusal)")
            #expect(busy.status == .conflict && error["code"] as? String == "session_busy")
            #expect(error["active_turn_id"] as? String == running)
            provider.release()
            #expect(try await first["status"] as? String == "completed")

            provider.script("a", [.delayed(.seconds(2), "one"), .answer("two")])
            let enqueuing = try await session(client, key: key, concurrency: "enqueue")
            async let one = post(client, "/v1/sessions/\(enqueuing)/turns", key: key, body: body)
            try await eventually(within: .seconds(10), every: .milliseconds(20)) { provider.calls(to: "a").count == 2 }
            async let two = post(client, "/v1/sessions/\(enqueuing)/turns", key: key, body: body)
            try await eventually(within: .seconds(10), every: .milliseconds(20)) {
                (try await call(client, .get, "/v1/sessions/\(enqueuing)", key: key).1["queue"] as? [String])?.count == 1
            }
            let (a, b) = (try await one, try await two)
            #expect(a["status"] as? String == "completed" && b["status"] as? String == "completed", "\(a) \(b)")
            #expect(a["output"] as? String == "one " && b["output"] as? String == "two ")
            #expect((b["seq"] as? Int ?? 0) > (a["seq"] as? Int ?? 0))
        }
    }

    @Test(
        "a streamed turn sends turn.started, message.delta and turn.completed events; a running turn can be cancelled, the provider's call with it; a background turn is answered 202 and runs on, its end in the event log"
    )
    func streamAndCancel() async throws {
        let provider = FakeProvider()
        provider.script("a", [.answer("streamed words here"), .endless])
        try await withPlatform(provider: provider) { client, store, team, key, _, _ in
            let sessionID = try await session(client, key: key)
            let (response, _) = try await call(
                client, .post, "/v1/sessions/\(sessionID)/turns", key: key,
                body: #"{"input":"@architect outline the services","mode":"stream"}"#)
            let text = String(buffer: response.body)
            #expect(response.headers[.contentType] == "text/event-stream")
            #expect(
                text.hasPrefix("event: turn.started\n") && text.contains("event: message.delta\ndata: {\"content\":\"streamed \"}"),
                "\(text)")
            #expect(text.contains("event: turn.completed\n") && text.contains(#""output":"streamed words here ""#))

            async let endless = post(client, "/v1/sessions/\(sessionID)/turns", key: key, body: #"{"input":"@architect and more"}"#)
            var turnID: String?
            try await eventually(within: .seconds(10), every: .milliseconds(20)) {
                turnID = try await call(client, .get, "/v1/sessions/\(sessionID)", key: key).1["running_turn"] as? String
                return turnID != nil && provider.calls(to: "a").count == 2
            }
            let (cancelled, turn) = try await call(
                client, .post, "/v1/sessions/\(sessionID)/turns/\(try #require(turnID))/cancel", key: key)
            #expect(
                [.ok, .accepted].contains(cancelled.status) && ["cancelled", "running"].contains(turn["status"] as? String ?? ""), "\(turn)"
            )
            #expect(try await endless["status"] as? String == "cancelled")
            #expect(
                try await call(client, .post, "/v1/sessions/\(sessionID)/turns/\(try #require(turnID))/cancel", key: key).0.status
                    == .conflict)

            // In the background: 202 at once, the turn at its URL, its end in the event log.
            provider.script("a", [.delayed(.milliseconds(300), "later")])
            let (accepted, queued) = try await call(
                client, .post, "/v1/sessions/\(sessionID)/turns", key: key,
                body: #"{"input":"@architect in the background","mode":"background"}"#)
            let location = "/v1/sessions/\(sessionID)/turns/\(queued["id"] as? String ?? "")"
            #expect(accepted.status == .accepted && accepted.headers[.location] == location, "\(queued)")
            #expect(["running", "queued"].contains(queued["status"] as? String ?? ""))
            var finished: [String: Any] = [:]
            try await eventually(within: .seconds(10), every: .milliseconds(50)) {
                finished = try await call(client, .get, location, key: key).1
                return finished["status"] as? String == "completed"
            }
            #expect(finished["output"] as? String == "later ", "\(finished)")
            let ended = try await store.events.list(teamID: team.id, limit: 1000).filter { $0.topic == "turn.completed" }
            #expect(ended.contains { $0.payload.contains(queued["id"] as? String ?? "-") })
        }
    }

    @Test("without the agent's chat model a turn is 503 model_unavailable naming the model, and the agents are listed unavailable")
    func withoutModel() async throws {
        try await withPlatform(provider: FakeProvider(), withModel: false) { client, _, _, key, _, _ in
            let sessionID = try await session(client, key: key)
            let (refused, body) = try await call(
                client, .post, "/v1/sessions/\(sessionID)/turns", key: key, body: #"{"input":"@architect hello"}"#)
            let error = try #require(body["error"] as? [String: Any])
            #expect(refused.status == .serviceUnavailable && error["code"] as? String == "model_unavailable")
            #expect((error["message"] as? String)?.contains("'assistant'") == true)
            let agents = try #require(try await call(client, .get, "/v1/agents", key: key).1["data"] as? [[String: Any]])
            #expect(agents.count == 13 && agents.allSatisfy { $0["available"] as? Bool == false })
        }
    }

    @Test("a session runs the agents' versions it began with: a changed file is a new version for new sessions only")
    func pinnedVersions() async throws {
        let provider = FakeProvider()
        try await withPlatform(provider: provider) { client, _, _, key, _, edit in
            let before = try await session(client, key: key)
            try await edit("architect", "You are", "Revised: you are")
            let after = try await session(client, key: key)
            #expect((try await call(client, .get, "/v1/sessions/\(after)", key: key).1["pinned"] as? [String: Int])?["architect"] == 2)
            let old = try await call(client, .post, "/v1/sessions/\(before)/turns", key: key, body: #"{"input":"@architect outline"}"#).1
            #expect(old["agent_version"] as? Int == 1, "\(old)")
            let oldPrompt = provider.calls(to: "a").last?.body["messages"]?.arrayValue?.first?.objectValue?["content"]?.stringValue ?? ""
            #expect(!oldPrompt.contains("Revised"), "the version the session began with: \(oldPrompt.prefix(80))")
            let new = try await call(client, .post, "/v1/sessions/\(after)/turns", key: key, body: #"{"input":"@architect outline"}"#).1
            #expect(new["agent_version"] as? Int == 2)
            let newPrompt = provider.calls(to: "a").last?.body["messages"]?.arrayValue?.first?.objectValue?["content"]?.stringValue ?? ""
            #expect(newPrompt.contains("Revised"), "\(newPrompt.prefix(80))")
        }
    }
}
