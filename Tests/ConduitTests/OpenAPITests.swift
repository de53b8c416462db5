import ConduitTestSupport
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Store
import Testing

@testable import Conduit
@testable import ConduitCore
@testable import ConduitEvents

/// The OpenAPI document served at /openapi.json: every route the application registers is in it and
/// nothing else is, and what each route answers fits the schema it documents.
@Suite("OpenAPI document")
struct OpenAPITests {
    static var document: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json))) as? [String: Any] ?? [:] }

    /// `GET /v1/jobs/{id}` for each operation of the document.
    static var operations: Set<String> {
        let paths = document["paths"] as? [String: [String: Any]] ?? [:]
        return Set(paths.flatMap { path, methods in methods.keys.map { "\($0.uppercased()) \(path)" } })
    }

    @Test("the document is OpenAPI 3.1 and names exactly the routes the application registers, with every feature on")
    func routesMatch() async throws {
        #expect(Self.document["openapi"] as? String == "3.1.0")
        try await TestDatabase.with(.sqlite) { store in
            let table = RouteTable()
            let app = try TestServer.authenticatedApplication(store: store, routes: table) {
                $0.auth.jwtSecret = String(repeating: "j", count: 40)
            }
            // Run, so that its services (the outbound HTTP client among them) start and shut down.
            try await app.test(.router) { _ in }
            let registered = Set(table.routes)
            #expect(registered.count == table.routes.count, "a route registered twice")
            #expect(
                registered.subtracting(Self.operations).isEmpty, "not in the document: \(registered.subtracting(Self.operations).sorted())")
            #expect(Self.operations.subtracting(registered).isEmpty, "not served: \(Self.operations.subtracting(registered).sorted())")
        }
    }

    @Test("each route's answer has a status the document lists and a body its schema accepts; the examples are accepted")
    func answersFitTheSchemas() async throws {
        try await TestDatabase.withTeam(.sqlite) { store, team in
            let key = try await store.keys.create(name: "k", teamID: team.id, scopes: Set(Scope.allCases)).secret
            let app = try TestServer.authenticatedApplication(store: store) {
                $0.auth.jwtSecret = String(repeating: "j", count: 40)
                $0.webhooks.allowPrivateAddresses = true
            }
            try await app.test(.router) { client in
                var checked: Set<String> = []
                /// Sends a request, checks its answer against the document, and returns the body as JSON.
                @discardableResult
                func call(_ method: HTTPRequest.Method, _ path: String, template: String? = nil, body: Any? = nil, authorized: Bool = true)
                    async throws -> Any?
                {
                    var headers: HTTPFields = authorized ? [.authorization: "Bearer \(key)"] : [:]
                    var buffer: ByteBuffer?
                    if let body {
                        headers[.contentType] = "application/json"
                        buffer = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body, options: .fragmentsAllowed))
                    }
                    let response = try await client.execute(uri: path, method: method, headers: headers, body: buffer)
                    let route = template ?? String(path.split(separator: "?")[0])
                    let operation = "\(method.rawValue) \(route)"
                    checked.insert(operation)
                    let json = try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView), options: .fragmentsAllowed)
                    let problems = SchemaCheck.answer(
                        document: Self.document, path: route, method: method.rawValue.lowercased(),
                        status: Int(response.status.code), contentType: response.headers[.contentType] ?? "", body: json)
                    #expect(problems.isEmpty, "\(operation) → \(response.status.code): \(problems)")
                    return json
                }
                func example(_ path: String, _ method: String) -> Any? {
                    let operation = (Self.document["paths"] as? [String: [String: Any]])?[path]?[method] as? [String: Any]
                    let content =
                        ((operation?["requestBody"] as? [String: Any])?["content"] as? [String: Any])?["application/json"] as? [String: Any]
                    return content?["example"]
                }

                try await call(.get, "/health/live", authorized: false)
                try await call(.get, "/health/ready", authorized: false)
                try await call(.get, "/openapi.json", authorized: false)
                try await call(.get, "/metrics")
                try await call(.get, "/v1/models")
                try await call(.get, "/v1/models/all-MiniLM-L6-v2", template: "/v1/models/{id}")
                try await call(.post, "/v1/embeddings", body: example("/v1/embeddings", "post"))
                try await call(.post, "/v1/embeddings", body: ["input": "a", "encoding_format": "base64", "dimensions": 8])
                try await call(.post, "/v1/embeddings", body: ["input": []])
                try await call(.post, "/v1/tokenize", body: example("/v1/tokenize", "post"))
                // No chat model is configured here: the example's model is not served (the gateway's own tests serve some).
                try await call(.post, "/v1/chat/completions", body: example("/v1/chat/completions", "post"))
                try await call(.get, "/v1/admin/debug")

                let job = try #require(try await call(.post, "/v1/jobs", body: example("/v1/jobs", "post")) as? [String: Any])
                let jobID = try #require(job["id"] as? String)
                try await call(.get, "/v1/jobs?limit=5")
                try await eventually(within: .seconds(15), every: .milliseconds(50)) {
                    let shown = try await call(.get, "/v1/jobs/\(jobID)", template: "/v1/jobs/{id}") as? [String: Any]
                    return shown?["state"] as? String == "completed"
                }
                try await call(.get, "/v1/jobs/\(jobID)/output?format=jsonl", template: "/v1/jobs/{id}/output")
                try await call(.post, "/v1/jobs/\(jobID)/cancel", template: "/v1/jobs/{id}/cancel")
                try await call(.post, "/v1/jobs/\(jobID)/retry", template: "/v1/jobs/{id}/retry")

                let accepted = try #require(
                    try await call(.post, "/v1/conversations", body: example("/v1/conversations", "post")) as? [String: Any])
                let conversationID = try #require(accepted["id"] as? String)
                try await call(.get, "/v1/conversations/\(conversationID)", template: "/v1/conversations/{id}")
                try await call(.get, "/v1/insights?limit=10")
                try await call(.post, "/v1/insights/evaluate", body: example("/v1/insights/evaluate", "post"))
                try await call(.post, "/v1/insights/evaluate", body: ["conversations": []])

                let webhook = try #require(try await call(.post, "/v1/webhooks", body: example("/v1/webhooks", "post")) as? [String: Any])
                let webhookID = try #require(webhook["id"] as? String)
                try await call(.get, "/v1/webhooks")
                try await call(.get, "/v1/webhooks/\(webhookID)", template: "/v1/webhooks/{id}")
                try await call(.post, "/v1/webhooks/\(webhookID)/rotate-secret", template: "/v1/webhooks/{id}/rotate-secret")
                try await call(.get, "/v1/webhooks/\(webhookID)/deliveries", template: "/v1/webhooks/{id}/deliveries")
                try await call(
                    .post, "/v1/webhooks/\(webhookID)/deliveries/unknown/redeliver",
                    template: "/v1/webhooks/{id}/deliveries/{delivery}/redeliver")
                try await call(.delete, "/v1/webhooks/\(webhookID)", template: "/v1/webhooks/{id}")

                try await call(.get, "/v1/versions")
                try await call(.get, "/v1/events?limit=5")
                // An answer the router test can read whole: the refusal (the stream itself has tests of its own).
                try await call(.get, "/v1/events/stream?types=no.such")
                try await call(.post, "/v1/ws/tickets")
                try await call(.get, "/v1/ws")

                // No agents are declared here: the built-in base domain only (the agents' own tests load the shipped ones).
                try await call(.get, "/v1/agents")
                try await call(.get, "/v1/agents/architect", template: "/v1/agents/{name}")
                try await call(.get, "/v1/agents/architect/versions", template: "/v1/agents/{name}/versions")
                try await call(.get, "/v1/domains")
                try await call(.get, "/v1/domains/base?resolved=true", template: "/v1/domains/{name}")
                try await call(.post, "/v1/route", body: example("/v1/route", "post"))
                try await call(
                    .post, "/v1/domains/base/router/evaluate", template: "/v1/domains/{name}/router/evaluate",
                    body: ["examples": [["input": "Any good pasta recipes?", "agent": NSNull()]]])
                try await call(
                    .post, "/v1/domains/base/router/calibrate", template: "/v1/domains/{name}/router/calibrate",
                    body: ["examples": [["input": "Any good pasta recipes?"]]])
                let project = try #require(try await call(.post, "/v1/projects", body: example("/v1/projects", "post")) as? [String: Any])
                let projectID = try #require(project["id"] as? String)
                try await call(.get, "/v1/projects?limit=5")
                try await call(.get, "/v1/projects/\(projectID)", template: "/v1/projects/{id}")
                try await call(
                    .post, "/v1/projects/\(projectID)/transitions", template: "/v1/projects/{id}/transitions",
                    body: example("/v1/projects/{id}/transitions", "post"))
                try await call(
                    .post, "/v1/projects/\(projectID)/transitions", template: "/v1/projects/{id}/transitions",
                    body: ["to": "planning", "expected_version": 1])
                try await call(
                    .post, "/v1/projects/\(projectID)/transitions", template: "/v1/projects/{id}/transitions", body: ["to": "planning"])
                try await call(.get, "/v1/projects/\(projectID)/transitions", template: "/v1/projects/{id}/transitions")
                let specification = try #require(
                    try await call(
                        .post, "/v1/projects/\(projectID)/specifications", template: "/v1/projects/{id}/specifications",
                        body: example("/v1/projects/{id}/specifications", "post")) as? [String: Any])
                let specificationID = try #require(specification["id"] as? String)
                try await call(
                    .get, "/v1/projects/\(projectID)/specifications?status=current", template: "/v1/projects/{id}/specifications")
                try await call(.get, "/v1/specifications/\(specificationID)", template: "/v1/specifications/{id}")
                for body in [
                    example("/v1/specifications/{id}/versions", "post"), ["base_version": 1, "body": "# Requirements\n## Overview\nx\n"],
                ] {
                    try await call(
                        .post, "/v1/specifications/\(specificationID)/versions", template: "/v1/specifications/{id}/versions", body: body)
                }
                try await call(
                    .post, "/v1/specifications/\(specificationID)/versions", template: "/v1/specifications/{id}/versions",
                    body: ["base_version": 1, "body": "stale"])
                try await call(.get, "/v1/specifications/\(specificationID)/versions", template: "/v1/specifications/{id}/versions")
                try await call(
                    .get, "/v1/specifications/\(specificationID)/versions/2", template: "/v1/specifications/{id}/versions/{version}")
                try await call(
                    .post, "/v1/specifications/\(specificationID)/versions/1/promote",
                    template: "/v1/specifications/{id}/versions/{version}/promote",
                    body: example("/v1/specifications/{id}/versions/{version}/promote", "post"))
                try await call(
                    .post, "/v1/specifications/\(specificationID)/versions/2/promote",
                    template: "/v1/specifications/{id}/versions/{version}/promote",
                    body: ["expected_current_version": 5])
                try await call(.get, "/v1/specifications/\(specificationID)/diff?from=1&to=2", template: "/v1/specifications/{id}/diff")
                let session = try #require(
                    try await call(
                        .post, "/v1/projects/\(projectID)/sessions", template: "/v1/projects/{id}/sessions",
                        body: example("/v1/projects/{id}/sessions", "post")) as? [String: Any])
                let sessionID = try #require(session["id"] as? String)
                try await call(.get, "/v1/projects/\(projectID)/sessions", template: "/v1/projects/{id}/sessions")
                try await call(.get, "/v1/sessions/\(sessionID)", template: "/v1/sessions/{id}")
                // No agent is declared here: the router finds none, and the turn needs clarification (the agents' tests run turns).
                try await call(
                    .post, "/v1/sessions/\(sessionID)/turns", template: "/v1/sessions/{id}/turns",
                    body: example("/v1/sessions/{id}/turns", "post"))
                try await call(.get, "/v1/sessions/\(sessionID)/turns", template: "/v1/sessions/{id}/turns")
                try await call(.get, "/v1/sessions/\(sessionID)/specifications", template: "/v1/sessions/{id}/specifications")
                try await call(.get, "/v1/specifications/\(specificationID)/sessions", template: "/v1/specifications/{id}/sessions")
                try await call(.get, "/v1/sessions/\(sessionID)/turns/none", template: "/v1/sessions/{id}/turns/{turn}")
                try await call(.post, "/v1/sessions/\(sessionID)/turns/none/cancel", template: "/v1/sessions/{id}/turns/{turn}/cancel")
                try await call(.post, "/v1/sessions/\(sessionID)/end", template: "/v1/sessions/{id}/end")
                try await call(.post, "/v1/sessions/\(sessionID)/end", template: "/v1/sessions/{id}/end")

                try await call(.get, "/v1/admin/teams")
                let made = try #require(try await call(.post, "/v1/admin/keys", body: example("/v1/admin/keys", "post")) as? [String: Any])
                let madeID = try #require(made["id"] as? String)
                try await call(.get, "/v1/admin/keys")
                let successor = try #require(
                    try await call(.post, "/v1/admin/keys/\(madeID)/rotate", template: "/v1/admin/keys/{id}/rotate") as? [String: Any])
                try await call(.delete, "/v1/admin/keys/\(try #require(successor["id"] as? String))", template: "/v1/admin/keys/{id}")
                let added = try #require(
                    try await call(.post, "/v1/admin/users", body: example("/v1/admin/users", "post")) as? [String: Any])
                let userID = try #require(added["id"] as? String)
                try await call(.get, "/v1/admin/users")
                try await call(
                    .patch, "/v1/admin/users/\(userID)", template: "/v1/admin/users/{id}", body: example("/v1/admin/users/{id}", "patch"))
                try await call(.delete, "/v1/admin/users/\(userID)", template: "/v1/admin/users/{id}")
                try await call(.get, "/v1/admin/usage?from=2026-01-01&to=2030-01-01")
                try await call(.get, "/v1/admin/audit?limit=5")

                let tokens = try #require(
                    try await call(.post, "/v1/auth/login", body: example("/v1/auth/login", "post"), authorized: false) as? [String: Any])
                let refreshed = try #require(
                    try await call(.post, "/v1/auth/refresh", body: ["refresh_token": tokens["refresh_token"] ?? ""], authorized: false)
                        as? [String: Any])
                try await call(.post, "/v1/auth/logout", body: ["refresh_token": refreshed["refresh_token"] ?? ""], authorized: false)

                #expect(Self.operations.subtracting(checked).isEmpty, "not exercised: \(Self.operations.subtracting(checked).sorted())")
            }
        }
    }
}

/// Just enough of JSON Schema (2020-12, as OpenAPI 3.1 uses it) for the document's own schemas: $ref,
/// type (one or several), properties, required, items, enum, oneOf.
enum SchemaCheck {
    /// What is wrong with an answer: a status the operation does not list, or a body its schema refuses.
    static func answer(document: [String: Any], path: String, method: String, status: Int, contentType: String, body: Any?) -> [String] {
        guard let operation = (document["paths"] as? [String: [String: Any]])?[path]?[method] as? [String: Any] else {
            return ["no such operation in the document"]
        }
        guard var response = (operation["responses"] as? [String: Any])?[String(status)] as? [String: Any] else {
            return ["status \(status) is not documented"]
        }
        if let reference = response["$ref"] as? String { response = resolve(reference, in: document) ?? [:] }
        guard let content = response["content"] as? [String: Any], !content.isEmpty else { return [] }
        let mediaType = String(contentType.split(separator: ";")[0])
        guard let media = content[mediaType] as? [String: Any] else { return ["content type \(contentType) is not documented"] }
        guard mediaType == "application/json", let schema = media["schema"] as? [String: Any] else { return [] }
        return problems(body as Any, schema, document, at: "body")
    }

    static func resolve(_ reference: String, in document: [String: Any]) -> [String: Any]? {
        var node: Any = document
        for part in reference.dropFirst(2).split(separator: "/") { node = (node as? [String: Any])?[String(part)] as Any }
        return node as? [String: Any]
    }

    static func problems(_ value: Any, _ schema: [String: Any], _ document: [String: Any], at place: String) -> [String] {
        if let reference = schema["$ref"] as? String {
            guard let target = resolve(reference, in: document) else { return ["\(place): unresolved \(reference)"] }
            return problems(value, target, document, at: place)
        }
        if let choices = schema["oneOf"] as? [[String: Any]] {
            let fitting = choices.filter { problems(value, $0, document, at: place).isEmpty }.count
            return fitting == 1 ? [] : ["\(place): fits \(fitting) of the oneOf choices"]
        }
        var found: [String] = []
        if let types = (schema["type"] as? String).map({ [$0] }) ?? (schema["type"] as? [String]),
            !types.contains(where: { fits(value, $0) })
        {
            return ["\(place): \(String(describing: value).prefix(60)) is not \(types.joined(separator: " or "))"]
        }
        if let allowed = schema["enum"] as? [String], let text = value as? String, !allowed.contains(text) {
            found.append("\(place): '\(text)' is not one of \(allowed)")
        }
        if let object = value as? [String: Any] {
            for name in schema["required"] as? [String] ?? [] where object[name] == nil { found.append("\(place).\(name) is missing") }
            for (name, property) in schema["properties"] as? [String: [String: Any]] ?? [:] {
                if let member = object[name] { found += problems(member, property, document, at: "\(place).\(name)") }
            }
        }
        if let array = value as? [Any], let items = schema["items"] as? [String: Any] {
            for (index, item) in array.enumerated() { found += problems(item, items, document, at: "\(place)[\(index)]") }
        }
        return found
    }

    static func fits(_ value: Any, _ type: String) -> Bool {
        switch type {
        case "null": return value is NSNull
        case "object": return value is [String: Any]
        case "array": return value is [Any]
        case "string": return value is String
        case "boolean": return isBoolean(value)
        case "integer": return !isBoolean(value) && (value as? NSNumber).map { $0.doubleValue == $0.doubleValue.rounded() } ?? false
        case "number": return !isBoolean(value) && value is NSNumber
        default: return false
        }
    }

    /// JSONSerialization gives booleans as NSNumber too, of the type `char`.
    static func isBoolean(_ value: Any) -> Bool {
        value is Bool && (value as? NSNumber).map { String(cString: $0.objCType) == "c" } ?? true
    }
}
