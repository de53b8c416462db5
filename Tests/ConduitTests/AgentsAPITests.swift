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
@testable import ConduitAgents
@testable import ConduitCore

@Suite("Agents platform API")
struct AgentsAPITests {
    private func call(
        _ client: some TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, key: String, body: String? = nil
    ) async throws -> (TestResponse, [String: Any]) {
        var headers: HTTPFields = [.authorization: "Bearer \(key)"]
        if body != nil { headers[.contentType] = "application/json" }
        let response = try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        let json = (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))) as? [String: Any] ?? [:]
        return (response, json)
    }

    /// A copy of the shipped agents and domains, to change, and a configuration file that names them.
    static func shippedCopy() throws -> (agents: URL, file: String) {
        let copy = FileManager.default.temporaryDirectory.appending(path: "conduit-agents-api-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
        for folder in ["agents", "domains"] {
            try FileManager.default.copyItem(at: AgentLibraryTests.deploy.appending(path: folder), to: copy.appending(path: folder))
        }
        // A domain of two states whose one move needs a reason.
        try
            "extends: base\nlifecycle:\n  initial: draft\n  states: [draft, shipped]\n  transitions:\n    - {from: draft, to: shipped, guards: [reason_given]}\n"
            .write(to: copy.appending(path: "domains/tiny.yaml"), atomically: true, encoding: .utf8)
        let file = copy.appending(path: "conduit.yaml").path
        try "agents:\n  dir: \(copy.appending(path: "agents").path)\n  domains_dir: \(copy.appending(path: "domains").path)\n".write(
            toFile: file, atomically: true, encoding: .utf8)
        return (copy.appending(path: "agents"), file)
    }

    /// A server's configuration with authentication on and the agents and domains `file` names.
    private static func configuration(_ file: String) async throws -> LiveConfiguration {
        var configuration = ServerConfiguration(port: 0, authentication: true)
        configuration.agents = try await ConfigurationSource(file: file, environment: [:]).load().configuration.agents
        return LiveConfiguration(configuration)
    }

    @Test(
        "agents are listed with their versions, unavailable without a chat model; a changed file is a new version and the old one stays readable; a bad file is refused with its key"
    )
    func agentsAndVersions() async throws {
        let (agents, file) = try Self.shippedCopy()
        try await TestDatabase.withTeam(.sqlite) { store, team in
            let key = try await store.keys.create(name: "k", teamID: team.id, scopes: [.agents]).secret
            let chatOnly = try await store.keys.create(name: "c", teamID: team.id, scopes: [.chat]).secret
            let live = try await Self.configuration(file)
            let app = try TestServer.authenticatedApplication(store: store, live: live)
            try await app.test(.router) { client in
                let (listed, list) = try await call(client, .get, "/v1/agents", key: key)
                #expect(listed.status == .ok, "\(list)")
                let data = try #require(list["data"] as? [[String: Any]])
                #expect(data.count == 13 && data.allSatisfy { $0["version"] as? Int == 1 && $0["available"] as? Bool == false })
                #expect(try await call(client, .get, "/v1/agents", key: chatOnly).0.status == .forbidden)
                let dataPipeline = try await call(client, .get, "/v1/agents?domain=data-pipeline", key: key).1["data"] as? [[String: Any]]
                #expect(dataPipeline?.count == 12, "data-pipeline offers no ux-writer")

                let architect = try await call(client, .get, "/v1/agents/architect", key: key).1
                #expect(architect["version"] as? Int == 1 && (architect["utterances"] as? [String])?.count ?? 0 >= 20)
                #expect((architect["system_prompt"] as? String)?.contains("{{project.name}}") == true)
                #expect(try await call(client, .get, "/v1/agents/nobody", key: key).0.status == .notFound)

                // A change to the file is a new version; the old one stays readable.
                let path = agents.appending(path: "architect.yaml")
                let text = try String(contentsOf: path, encoding: .utf8)
                try text.replacingOccurrences(of: "description:", with: "description: Revised.").write(
                    to: path, atomically: true, encoding: .utf8)
                _ = live.reload(from: try await ConfigurationSource(file: file, environment: [:]).load().configuration)
                #expect(try await call(client, .get, "/v1/agents/architect", key: key).1["version"] as? Int == 2)
                let versions = try #require(
                    try await call(client, .get, "/v1/agents/architect/versions", key: key).1["data"] as? [[String: Any]])
                #expect(versions.map { $0["version"] as? Int } == [2, 1])
                #expect(versions.map { $0["current"] as? Bool } == [true, false])
                #expect(((versions[1]["declaration"] as? [String: Any])?["description"] as? String)?.hasPrefix("Revised") == false)

                // A file with a mistake refuses the configuration, naming the file and key.
                try (text + "\nthreshold: high\n").write(to: path, atomically: true, encoding: .utf8)
                let refusal = await #expect(throws: ConfigurationProblems.self) {
                    _ = try await ConfigurationSource(file: file, environment: [:]).load()
                }
                #expect(refusal?.description.contains("architect.yaml: threshold takes a number") == true, "\(String(describing: refusal))")
            }
        }
    }

    @Test(
        "the router names the agent and why: explicit, semantic with its version and the next best, fallback with needs_clarification below the threshold; it measures itself on labelled requests and fits thresholds to them"
    )
    func routing() async throws {
        let (_, file) = try Self.shippedCopy()
        try await TestDatabase.withTeam(.sqlite) { store, team in
            let key = try await store.keys.create(name: "k", teamID: team.id, scopes: [.agents]).secret
            let app = try TestServer.authenticatedApplication(store: store, live: try await Self.configuration(file))
            try await app.test(.router) { client in
                func route(_ body: String) async throws -> (HTTPResponse.Status, [String: Any]) {
                    let (response, json) = try await call(client, .post, "/v1/route", key: key, body: body)
                    return (response.status, json)
                }
                let (status, semantic) = try await route(
                    #"{"input":"Which tables, primary keys and indexes do we need to store orders and their line items?"}"#)
                #expect(status == .ok, "\(semantic)")
                #expect(semantic["agent"] as? String == "data-modeller" && semantic["method"] as? String == "semantic", "\(semantic)")
                #expect(semantic["version"] as? Int == 1 && semantic["needs_clarification"] as? Bool == false)
                let confidence = try #require(semantic["confidence"] as? Double)
                #expect(confidence >= (semantic["threshold"] as? Double ?? 1))
                let alternatives = try #require(semantic["alternatives"] as? [[String: Any]])
                #expect(alternatives.count == 3 && alternatives.allSatisfy { ($0["score"] as? Double ?? 1) <= confidence })
                #expect(!alternatives.contains { $0["agent"] as? String == "data-modeller" })

                let explicit = try await route(#"{"input":"@reviewer how should the services talk to each other?"}"#).1
                #expect(explicit["agent"] as? String == "reviewer" && explicit["method"] as? String == "explicit")
                #expect(
                    try await route(#"{"input":"anything","agent":"architect","domain":"fintech"}"#).1["method"] as? String == "explicit")
                let offline = try await route(#"{"input":"@ux-writer label this button","domain":"data-pipeline"}"#)
                #expect(offline.0 == .badRequest && (offline.1["error"] as? [String: Any])?["code"] as? String == "unknown_agent")

                let weather = try await route(#"{"input":"zzqx vlorp 1234"}"#).1
                #expect(weather["method"] as? String == "fallback" && weather["needs_clarification"] as? Bool == true, "\(weather)")
                #expect(weather["agent"] as? String == "requirements-analyst", "base's fallback agent")

                #expect(try await route(#"{"input":"x","domain":"nowhere"}"#).0 == .badRequest)
                #expect(try await route(#"{"input":"   "}"#).0 == .badRequest)
                let long = try await route(#"{"input":"\#(String(repeating: "a ", count: 9_000))"}"#)
                #expect(long.0 == .badRequest && (long.1["error"] as? [String: Any])?["code"] as? String == "input_too_long")
                #expect(try await route(#"{"input":"x","project_id":"nope"}"#).0 == .notFound)

                // Measured on part of the shipped labelled set.
                let lines = try String(
                    contentsOf: AgentLibraryTests.deploy.appending(path: "../benchmarks/agents/router-labelled.jsonl"), encoding: .utf8
                ).split(separator: "\n").prefix(60)
                let examples = "{\"examples\":[\(lines.joined(separator: ","))]}"
                let (evaluated, evaluation) = try await call(client, .post, "/v1/domains/base/router/evaluate", key: key, body: examples)
                #expect(evaluated.status == .ok, "\(evaluation)")
                #expect((evaluation["accuracy"] as? Double ?? 0) >= 0.8, "\(evaluation)")
                #expect(evaluation["examples"] as? Int == 60)
                let confusion = try #require(evaluation["confusion"] as? [String: Any])
                let labels = try #require(confusion["labels"] as? [String])
                #expect(labels.count == 14 && labels.last == "(none)")
                let matrix = try #require(confusion["matrix"] as? [[Int]])
                #expect(matrix.joined().reduce(0, +) == 60)
                #expect((evaluation["per_agent"] as? [String: Any])?.count == 13)
                let (calibrated, calibration) = try await call(client, .post, "/v1/domains/base/router/calibrate", key: key, body: examples)
                #expect(calibrated.status == .ok)
                let before = try #require((calibration["before"] as? [String: Any])?["accuracy"] as? Double)
                let after = try #require((calibration["after"] as? [String: Any])?["accuracy"] as? Double)
                #expect(after >= before && (calibration["proposed"] as? [String: Double])?.count == 13)
                let unknown = try await call(
                    client, .post, "/v1/domains/base/router/evaluate", key: key, body: #"{"examples":[{"input":"x","agent":"nobody"}]}"#)
                #expect(unknown.0.status == .badRequest)
                #expect(
                    try await call(client, .post, "/v1/domains/base/router/evaluate", key: key, body: #"{"examples":[]}"#).0.status
                        == .badRequest)

                let resolved = try await call(client, .get, "/v1/domains/fintech?resolved=true", key: key).1
                #expect(resolved["extends"] as? [String] == ["regulated", "base"])
                #expect((resolved["provenance"] as? [String: String])?["/title"] == "fintech")
                #expect(resolved["resolved"] is [String: Any])
                #expect(try await call(client, .get, "/v1/domains/fintech", key: key).1["provenance"] == nil)
                #expect(
                    (try await call(client, .get, "/v1/domains", key: key).1["data"] as? [Any])?.count == 11,
                    "the ten shipped, and the test's tiny")
                #expect(try await call(client, .get, "/v1/domains/nowhere", key: key).0.status == .notFound)
            }
        }
    }

    @Test(
        "a project moves only along its domain's transitions (409 with the allowed ones), with its guards satisfied (422 naming each), from the version its caller saw (412); its history and events are kept, and another team's project is not found"
    )
    func projectLifecycle() async throws {
        let (_, file) = try Self.shippedCopy()
        try await TestDatabase.withTeams(.sqlite) { store, team, other in
            let key = try await store.keys.create(name: "k", teamID: team.id, scopes: [.agents]).secret
            let stranger = try await store.keys.create(name: "s", teamID: other.id, scopes: [.agents]).secret
            let live = try await Self.configuration(file)
            let library = live.current.agents.library
            let app = try TestServer.authenticatedApplication(store: store, live: live)
            try await app.test(.router) { client in
                let (created, project) = try await call(
                    client, .post, "/v1/projects", key: key,
                    body: #"{"name":"Checkout","description":"one-page checkout","domain":"web-application"}"#)
                #expect(created.status == .created, "\(project)")
                let id = try #require(project["id"] as? String)
                #expect(project["state"] as? String == "discovery" && project["version"] as? Int == 1)
                #expect(try await call(client, .get, "/v1/projects/\(id)", key: stranger).0.status == .notFound)
                #expect(
                    try await call(client, .post, "/v1/projects/\(id)/transitions", key: stranger, body: #"{"to":"specification"}"#).0
                        .status
                        == .notFound)
                #expect(
                    try await call(client, .post, "/v1/projects", key: key, body: #"{"name":"x","domain":"nowhere"}"#).0.status
                        == .badRequest)
                #expect(try await call(client, .post, "/v1/projects", key: key, body: #"{"name":"  "}"#).0.status == .badRequest)

                func move(_ body: String) async throws -> (HTTPResponse.Status, [String: Any]) {
                    let (response, json) = try await call(client, .post, "/v1/projects/\(id)/transitions", key: key, body: body)
                    return (response.status, json)
                }
                let (skipped, skip) = try await move(#"{"to":"implementation"}"#)
                let skipError = try #require(skip["error"] as? [String: Any])
                #expect(skipped == .conflict && skipError["code"] as? String == "invalid_transition")
                #expect(skipError["allowed"] as? [String] == ["specification"])

                let (moved, result) = try await move(#"{"to":"specification","reason":"scope agreed","expected_version":1}"#)
                #expect(moved == .ok, "\(result)")
                #expect((result["project"] as? [String: Any])?["version"] as? Int == 2)
                #expect((result["transition"] as? [String: Any])?["from"] as? String == "discovery")

                let (stale, staleError) = try await move(#"{"to":"planning","expected_version":1}"#)
                #expect(stale == .preconditionFailed && (staleError["error"] as? [String: Any])?["code"] as? String == "version_conflict")

                let (guarded, guardError) = try await move(#"{"to":"planning","expected_version":2}"#)
                let failure = try #require(guardError["error"] as? [String: Any])
                #expect(guarded == .unprocessableContent && failure["code"] as? String == "guard_failed", "\(guardError)")
                let guards = try #require(failure["guards"] as? [[String: Any]])
                #expect(guards.map { $0["guard"] as? String } == ["current_specification:requirements"])

                // A current requirements specification without every required section still fails the guard; with them, it passes.
                let required = try #require(
                    library.domains["web-application"]?.specifications["requirements"]?.requiredSections)
                try await Self.currentSpecification(in: store, projectID: id, teamID: team.id, sections: Array(required.dropLast()))
                let partial = try await move(#"{"to":"planning"}"#)
                #expect(partial.0 == .unprocessableContent && "\(partial.1)".contains("lacks"), "\(partial.1)")
                let every = String(decoding: try JSONEncoder().encode(required), as: UTF8.self)
                try await store.transaction { sql in try await sql.raw("UPDATE specification_versions SET sections = \(bind: every)").run()
                }
                let lifecycle = try await call(client, .get, "/v1/projects/\(id)/transitions", key: key).1
                let allowed = try #require(lifecycle["allowed"] as? [[String: Any]])
                #expect(allowed.map { $0["to"] as? String } == ["planning"])
                #expect(((allowed[0]["guards"] as? [[String: Any]])?.first?["satisfied"] as? Bool) == true)
                #expect(try await move(#"{"to":"planning","expected_version":2}"#).0 == .ok)

                let history = try #require(
                    try await call(client, .get, "/v1/projects/\(id)/transitions", key: key).1["history"] as? [[String: Any]])
                #expect(history.map { $0["to"] as? String } == ["specification", "planning"])
                #expect(history[0]["reason"] as? String == "scope agreed" && (history[0]["actor"] as? String)?.hasPrefix("key:") == true)
                let events = try await store.events.list(teamID: team.id).map(\.topic).filter { $0.hasPrefix("project.") }
                #expect(events == ["project.created", "project.transitioned", "project.transitioned"])
                // reason_given: a move without a reason is refused, naming the guard.
                let tiny = try await call(client, .post, "/v1/projects", key: key, body: #"{"name":"Tiny","domain":"tiny"}"#).1
                let tinyID = try #require(tiny["id"] as? String)
                let unexplained = try await call(
                    client, .post, "/v1/projects/\(tinyID)/transitions", key: key, body: #"{"to":"shipped","reason":"  "}"#)
                #expect(unexplained.0.status == .unprocessableContent && "\(unexplained.1)".contains("reason_given"), "\(unexplained.1)")
                #expect(
                    try await call(
                        client, .post, "/v1/projects/\(tinyID)/transitions", key: key, body: #"{"to":"shipped","reason":"done"}"#
                    ).0.status == .ok)

                let listed = try await call(client, .get, "/v1/projects?state=planning", key: key).1["data"] as? [[String: Any]]
                #expect(listed?.map { $0["id"] as? String } == [id])
                #expect((try await call(client, .get, "/v1/projects", key: stranger).1["data"] as? [Any])?.isEmpty == true)
            }
        }
    }

    @Test(
        "a specification's versions are written from the newest (409 otherwise, with it), promoted once they have the template's required sections (422 otherwise), the previous current superseded; a diff names the sections that changed; a current one opens its project's guard"
    )
    func specifications() async throws {
        let (_, file) = try Self.shippedCopy()
        try await TestDatabase.withTeams(.sqlite) { store, team, other in
            let key = try await store.keys.create(name: "k", teamID: team.id, scopes: [.agents]).secret
            let stranger = try await store.keys.create(name: "s", teamID: other.id, scopes: [.agents]).secret
            let app = try TestServer.authenticatedApplication(store: store, live: try await Self.configuration(file))
            try await app.test(.router) { client in
                let project = try await call(client, .post, "/v1/projects", key: key, body: #"{"name":"Clinic booking","domain":"base"}"#).1
                let projectID = try #require(project["id"] as? String)
                let (created, specification) = try await call(
                    client, .post, "/v1/projects/\(projectID)/specifications", key: key, body: #"{"key":"requirements"}"#)
                #expect(created.status == .created && specification["title"] as? String == "Requirements", "\(specification)")
                let id = try #require(specification["id"] as? String)
                #expect(
                    try await call(client, .post, "/v1/projects/\(projectID)/specifications", key: key, body: #"{"key":"requirements"}"#).0
                        .status == .conflict)
                #expect(try await call(client, .get, "/v1/specifications/\(id)", key: stranger).0.status == .notFound)

                func write(_ base: String, _ body: String) async throws -> (HTTPResponse.Status, [String: Any]) {
                    let text = String(decoding: try JSONSerialization.data(withJSONObject: body, options: .fragmentsAllowed), as: UTF8.self)
                    let (response, json) = try await call(
                        client, .post, "/v1/specifications/\(id)/versions", key: key,
                        body: #"{"base_version":\#(base),"body":\#(text),"source":{"agent":"requirements-analyst"}}"#)
                    return (response.status, json)
                }
                let partial = "# Requirements\n## Overview\nBook visits online.\n## Functional requirements\n- book\n"
                let whole = partial + "## Non-functional requirements\n- 99.9 %\n## Scope\nOne clinic.\n"
                let first = try await write("null", partial)
                #expect(first.0 == .created && first.1["version"] as? Int == 1 && first.1["status"] as? String == "draft", "\(first.1)")
                #expect(first.1["sections"] as? [String] == ["requirements", "overview", "functional_requirements"])
                #expect((first.1["source"] as? [String: Any])?["agent_version"] as? Int == 1)
                let missing = try await call(client, .post, "/v1/specifications/\(id)/versions/1/promote", key: key)
                let missingError = try #require(missing.1["error"] as? [String: Any])
                #expect(missing.0.status == .unprocessableContent && missingError["code"] as? String == "missing_sections")
                #expect(missingError["missing_sections"] as? [String] == ["non_functional_requirements", "scope"])

                #expect(try await write("1", whole).0 == .created)
                let stale = try await write("1", whole + "more")
                let staleError = try #require(stale.1["error"] as? [String: Any])
                #expect(
                    stale.0 == .conflict && staleError["code"] as? String == "version_conflict" && staleError["latest_version"] as? Int == 2
                )
                #expect(try await write("7", whole).0 == .conflict)
                let (missingBase, _) = try await call(
                    client, .post, "/v1/specifications/\(id)/versions", key: key, body: ##"{"body":"# x"}"##)
                #expect(missingBase.status == .badRequest)

                let (promoted, two) = try await call(
                    client, .post, "/v1/specifications/\(id)/versions/2/promote", key: key, body: #"{"expected_current_version":null}"#)
                #expect(promoted.status == .ok && two["status"] as? String == "current", "\(two)")
                #expect(
                    try await write("2", whole.replacingOccurrences(of: "One clinic.", with: "Every clinic of the group.")).0 == .created)
                let wrongExpectation = try await call(
                    client, .post, "/v1/specifications/\(id)/versions/3/promote", key: key, body: #"{"expected_current_version":1}"#)
                #expect(
                    wrongExpectation.0.status == .conflict
                        && (wrongExpectation.1["error"] as? [String: Any])?["current_version"] as? Int == 2)
                #expect(
                    try await call(
                        client, .post, "/v1/specifications/\(id)/versions/3/promote", key: key, body: #"{"expected_current_version":2}"#
                    ).0.status == .ok)
                let versions = try #require(
                    try await call(client, .get, "/v1/specifications/\(id)/versions", key: key).1["data"] as? [[String: Any]])
                #expect(versions.map { $0["status"] as? String } == ["current", "superseded", "draft"])
                #expect(versions[1]["superseded_by"] as? Int == 3 && versions[0]["body"] == nil)
                #expect((try await call(client, .get, "/v1/specifications/\(id)/versions/2", key: key).1["body"] as? String) == whole)

                let diff = try await call(client, .get, "/v1/specifications/\(id)/diff?from=2&to=3", key: key).1
                #expect((diff["sections"] as? [String: Any])?["changed"] as? [String] == ["scope"], "\(diff)")
                #expect(diff["lines"] as? [String] == ["-One clinic.", "+Every clinic of the group."])

                let current = try await call(client, .get, "/v1/projects/\(projectID)/specifications?status=current", key: key).1
                #expect(((current["data"] as? [[String: Any]])?.first)?["current_version"] as? Int == 3)
                // The base domain's guard on specification → planning is now satisfied.
                #expect(
                    try await call(client, .post, "/v1/projects/\(projectID)/transitions", key: key, body: #"{"to":"specification"}"#).0
                        .status == .ok)
                #expect(
                    try await call(client, .post, "/v1/projects/\(projectID)/transitions", key: key, body: #"{"to":"planning"}"#).0.status
                        == .ok)
                let events = try await store.events.list(teamID: team.id).map(\.topic).filter { $0.hasPrefix("specification.") }
                #expect(
                    events == [
                        "specification.created", "specification.version_created", "specification.version_created", "specification.promoted",
                        "specification.version_created", "specification.promoted", "specification.superseded",
                    ])
            }
        }
    }

    /// A current version of the project's requirements with `sections`, written as the specifications API will.
    private static func currentSpecification(in store: Database, projectID: String, teamID: String, sections: [String]) async throws {
        let sectionsJSON = String(decoding: try JSONEncoder().encode(sections), as: UTF8.self)
        try await store.transaction { sql in
            try await sql.raw(
                """
                INSERT INTO specifications (id, team_id, project_id, key, title, created_at)
                VALUES ('spec1', \(bind: teamID), \(bind: projectID), 'requirements', 'Requirements', 0)
                """
            ).run()
            try await sql.raw(
                """
                INSERT INTO specification_versions (specification_id, version, status, body, sections, summary, created_at)
                VALUES ('spec1', 1, 'current', '# Requirements', \(bind: sectionsJSON), '', 0)
                """
            ).run()
        }
    }
}
