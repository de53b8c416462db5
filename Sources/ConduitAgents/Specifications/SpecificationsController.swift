import ConduitCore
import Foundation
import Hummingbird
import Store

/// A project's specifications: `POST|GET /v1/projects/{id}/specifications` begin and list them (by key);
/// `POST /v1/specifications/{id}/versions` writes the next version from `base_version` (409
/// `version_conflict` with the newest when another was written since: no edit overwrites another);
/// `…/versions/{v}/promote` makes a version current and the one before it superseded, atomically, once it
/// has every section its domain's template requires (422 `missing_sections`); `…/diff?from=&to=` compares two.
struct SpecificationsController {
    let teams: TeamScope
    let library: Live<AgentsConfiguration>
    let versions: AgentVersions
    let limits: Live<APILimits>

    /// Most bytes of one version's text.
    static let maximumBodyBytes = 262_144

    private var store: Database { teams.store }

    func addRoutes(to routes: some RouterMethods<ConduitRequestContext>) {
        routes.post("/v1/projects/{id}/specifications") { request, context in try await create(request, context: context) }
        routes.get("/v1/projects/{id}/specifications") { request, context in
            let project = try await teams.project(context)
            let status = request.uri.queryParameters["status"].map(String.init)
            guard status == nil || status == "current" else {
                throw InvalidInput("status takes current (or nothing, for all)", param: "status", code: "invalid_value")
            }
            let specifications = try await store.specifications.list(projectID: project.id, teamID: project.teamID)
                .filter { status == nil || $0.currentVersion != nil }
            return try json(CompleteList(data: specifications.map(SpecificationView.init)))
        }
        routes.get("/v1/specifications/{id}") { _, context in try json(SpecificationView(try await specification(context))) }
        routes.post("/v1/specifications/{id}/versions") { request, context in try await write(request, context: context) }
        routes.get("/v1/specifications/{id}/versions") { _, context in
            let specification = try await specification(context)
            let versions = try await store.specifications.versions(of: specification)
            return try json(CompleteList(data: versions.map { SpecificationVersionView($0, withBody: false) }))
        }
        routes.get("/v1/specifications/{id}/versions/{version}") { _, context in
            let specification = try await specification(context)
            return try json(
                SpecificationVersionView(try await version(try Self.number(context, "version"), of: specification), withBody: true))
        }
        routes.get("/v1/specifications/{id}/sessions") { _, context in
            let specification = try await specification(context)
            return try json(CompleteList(data: try await store.specifications.lineage(of: specification).map(SessionWork.init)))
        }
        routes.get("/v1/sessions/{id}/specifications") { _, context in
            let id = try context.parameters.require("id")
            let teamID = try await teams.teamID(context)
            guard try await store.agentSessions.find(id, teamID: teamID) != nil else { throw StoreError.notFound("session \(id)") }
            return try json(CompleteList(data: try await store.specifications.lineage(ofSession: id, teamID: teamID).map(SessionWork.init)))
        }
        routes.post("/v1/specifications/{id}/versions/{version}/promote") { request, context in try await promote(request, context: context)
        }
        routes.get("/v1/specifications/{id}/diff") { request, context in
            let specification = try await specification(context)
            let query = request.uri.queryParameters
            guard let from = query["from"].flatMap({ Int64(String($0)) }), let to = query["to"].flatMap({ Int64(String($0)) }) else {
                throw InvalidInput("from and to take version numbers", param: "from", code: "invalid_value")
            }
            let (old, new) = (try await version(from, of: specification), try await version(to, of: specification))
            for body in [old.body, new.body] where body.utf8.count(where: { $0 == UInt8(ascii: "\n") }) >= SpecificationDiff.maximumLines {
                throw APIError(
                    status: .unprocessableContent,
                    message:
                        "a version of more than \(SpecificationDiff.maximumLines) lines is too long to diff line by line; compare its sections",
                    param: "from", code: "too_long_to_diff")
            }
            return try json(SpecificationDiff(from: from, old: old.body, to: to, new: new.body))
        }
    }

    private struct NewSpecification: Decodable {
        var key: String
        var title: String?
    }

    private func create(_ request: Request, context: ConduitRequestContext) async throws -> Response {
        let body = try await request.decodeJSON(as: NewSpecification.self, limit: limits.read(\.maxBodyBytes))
        guard DeclaredName.isValid(body.key) else {
            throw InvalidInput("key takes 1 to 64 lowercase letters, digits, '_' or '-'", param: "key", code: "invalid_value")
        }
        let project = try await teams.project(context)
        let template = library.read(\.library).domains[project.domain]?.specifications[body.key]
        let title = (body.title ?? template?.title ?? body.key).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !title.isEmpty, title.utf8.count <= 400 else {
            throw InvalidInput("title takes 1 to 400 bytes", param: "title", code: "invalid_value")
        }
        let specification = try await store.specifications.create(
            projectID: project.id, teamID: project.teamID, key: body.key, title: title
        ) {
            NewEvent(AgentEvents.SpecificationCreated(specificationID: $0, projectID: project.id, key: body.key))
        }
        return try json(SpecificationView(specification), status: .created)
    }

    private struct NewVersion: Decodable {
        struct Source: Decodable {
            var agent: String?
            /// A turn of one of the project's sessions: its answer is the version's text unless `body` is
            /// given, and its session, agent and agent version the version's lineage.
            var turnID: String?

            enum CodingKeys: String, CodingKey {
                case agent
                case turnID = "turn_id"
            }
        }

        /// Required, null for the first version: a writer says what it wrote from.
        var baseVersion: Int64?
        var body: String?
        var summary: String?
        var source: Source?

        enum CodingKeys: String, CodingKey {
            case baseVersion = "base_version"
            case body, summary, source
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            guard container.contains(.baseVersion) else {
                throw InvalidInput(
                    "base_version is required: the version this one was written from (null for the first)", param: "base_version",
                    code: "missing_parameter")
            }
            baseVersion = try container.decodeIfPresent(Int64.self, forKey: .baseVersion)
            body = try container.decodeIfPresent(String.self, forKey: .body)
            summary = try container.decodeIfPresent(String.self, forKey: .summary)
            source = try container.decodeIfPresent(Source.self, forKey: .source)
        }
    }

    private func write(_ request: Request, context: ConduitRequestContext) async throws -> Response {
        let body = try await request.decodeJSON(as: NewVersion.self, limit: limits.read(\.maxBodyBytes))
        let summary = body.summary ?? ""
        guard summary.utf8.count <= 2_000 else {
            throw InvalidInput("summary takes at most 2000 bytes", param: "summary", code: "invalid_value")
        }
        let specification = try await specification(context)
        var lineage: (session: String?, turn: String?, agent: String?, version: Int64?) = (nil, nil, body.source?.agent, nil)
        var text = body.body
        if let turnID = body.source?.turnID {
            guard body.body == nil else {
                throw InvalidInput(
                    "a version from a turn is the turn's answer: give source.turn_id or body, not both (edit it in the next version)",
                    param: "body", code: "invalid_value")
            }
            guard let turn = try await store.agentSessions.turn(turnID, teamID: specification.teamID),
                let session = try await store.agentSessions.find(turn.sessionID, teamID: specification.teamID),
                session.projectID == specification.projectID
            else {
                throw InvalidInput(
                    "source.turn_id names no turn of this project's sessions: '\(turnID.bounded())'", param: "source.turn_id",
                    code: "unknown_turn")
            }
            guard turn.status == "completed" else {
                throw InvalidInput(
                    "the turn \(turnID) has no answer to write from (it is \(turn.status))", param: "source.turn_id", code: "invalid_value")
            }
            if let named = body.source?.agent, named != turn.agent {
                throw InvalidInput(
                    "the turn was answered by '\(turn.agent ?? "")', not '\(named.bounded())'", param: "source.agent", code: "invalid_value"
                )
            }
            lineage = (turn.sessionID, turn.id, turn.agent, turn.agentVersion)
            text = text ?? turn.output
        } else if let name = body.source?.agent {
            guard let agent = library.read(\.library).agents[name] else {
                throw InvalidInput("source.agent names no agent: '\(name.bounded())'", param: "source.agent", code: "unknown_agent")
            }
            lineage.version = try await versions.version(of: agent)
        }
        guard let text, !text.allSatisfy(\.isWhitespace), text.utf8.count <= Self.maximumBodyBytes else {
            throw InvalidInput(
                "body takes 1 to \(Self.maximumBodyBytes) bytes of Markdown (or source.turn_id, a turn whose answer it is)", param: "body",
                code: "invalid_value")
        }
        let new = NewSpecificationVersion(
            body: text, sections: MarkdownSections.ids(in: text), summary: summary, sessionID: lineage.session, turnID: lineage.turn,
            agent: lineage.agent, agentVersion: lineage.version)
        let agent = lineage.agent
        do {
            let written = try await store.specifications.write(new, to: specification, base: body.baseVersion) { version in
                NewEvent(
                    AgentEvents.SpecificationVersionCreated(
                        specificationID: specification.id, projectID: specification.projectID, key: specification.key, version: version,
                        baseVersion: body.baseVersion, agent: agent))
            }
            return try json(SpecificationVersionView(written, withBody: true), status: .created)
        } catch SpecificationConflict.staleBase(let latest) {
            var error = APIError(
                status: .conflict,
                message: "version \(latest.map(String.init) ?? "none") is the newest, not \(body.baseVersion.map(String.init) ?? "none"): "
                    + "read it, merge your change into it and write again",
                param: "base_version", code: "version_conflict")
            error.details = ["latest_version": latest.map(JSONValue.integer) ?? .null]
            throw error
        }
    }

    private struct Promotion: Decodable {
        var expectedCurrentVersion: Int64??

        enum CodingKeys: String, CodingKey { case expectedCurrentVersion = "expected_current_version" }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            // Present and null: the caller expects no current version yet.
            expectedCurrentVersion =
                container.contains(.expectedCurrentVersion)
                ? .some(try container.decodeIfPresent(Int64.self, forKey: .expectedCurrentVersion)) : nil
        }
    }

    private func promote(_ request: Request, context: ConduitRequestContext) async throws -> Response {
        let buffer = try await request.body.collect(upTo: limits.read(\.maxBodyBytes))
        let promotion = buffer.readableBytes == 0 ? nil : try decodeStrictJSON(Promotion.self, from: buffer)
        let specification = try await specification(context)
        let number = try Self.number(context, "version")
        let target = try await version(number, of: specification)
        let project = try await store.projects.find(specification.projectID, teamID: specification.teamID)
        let template = project.flatMap { library.read(\.library).domains[$0.domain]?.specifications[specification.key] }
        let missing = (template?.requiredSections ?? []).filter { !target.sections.contains($0) }
        guard missing.isEmpty else {
            var error = APIError(
                status: .unprocessableContent,
                message:
                    "version \(number) lacks the sections its template requires: \(missing.joined(separator: ", ")) (a Markdown heading each)",
                param: "version", code: "missing_sections")
            error.details = ["missing_sections": .array(missing.map(JSONValue.string))]
            throw error
        }
        do {
            let promoted = try await store.specifications.promote(
                number, of: specification, expectingCurrent: promotion?.expectedCurrentVersion
            ) {
                previous in
                var events = [
                    NewEvent(
                        AgentEvents.SpecificationPromoted(
                            specificationID: specification.id, projectID: specification.projectID, key: specification.key, version: number,
                            previous: previous))
                ]
                if let previous {
                    events.append(
                        NewEvent(
                            AgentEvents.SpecificationSuperseded(
                                specificationID: specification.id, projectID: specification.projectID, key: specification.key,
                                version: previous,
                                supersededBy: number)))
                }
                return events
            }
            guard let promoted else { throw StoreError.notFound("version \(number) of specification \(specification.id)") }
            return try json(SpecificationVersionView(promoted, withBody: false))
        } catch SpecificationConflict.staleCurrent(let current) {
            var error = APIError(
                status: .conflict, message: "the current version is \(current.map(String.init) ?? "none"), not the one expected",
                param: "expected_current_version", code: "version_conflict")
            error.details = ["current_version": current.map(JSONValue.integer) ?? .null]
            throw error
        }
    }

    private func specification(_ context: ConduitRequestContext) async throws -> Specification {
        let id = try context.parameters.require("id")
        guard let specification = try await store.specifications.find(id, teamID: try await teams.teamID(context)) else {
            throw StoreError.notFound("specification \(id)")
        }
        return specification
    }

    private func version(_ number: Int64, of specification: Specification) async throws -> SpecificationVersion {
        guard let version = try await store.specifications.version(number, of: specification) else {
            throw StoreError.notFound("version \(number) of specification \(specification.id)")
        }
        return version
    }

    private static func number(_ context: ConduitRequestContext, _ name: String) throws -> Int64 {
        guard let number = Int64(try context.parameters.require(name)), number > 0 else {
            throw InvalidInput("\(name) takes a version number", param: name, code: "invalid_value")
        }
        return number
    }
}

struct SpecificationView: Encodable, Sendable {
    var id: String
    var object = "specification"
    var projectID: String
    var key: String
    var title: String
    @Nullable var currentVersion: Int64?
    @Nullable var latestVersion: Int64?
    var createdAt: Int64

    init(_ specification: Specification) {
        id = specification.id
        projectID = specification.projectID
        key = specification.key
        title = specification.title
        currentVersion = specification.currentVersion
        latestVersion = specification.latestVersion
        createdAt = StoreTime.seconds(specification.createdAt)
    }
}

struct SpecificationVersionView: Encodable, Sendable {
    struct Lineage: Encodable, Sendable {
        @Nullable var sessionID: String?
        @Nullable var turnID: String?
        @Nullable var agent: String?
        @Nullable var agentVersion: Int64?
    }

    var specificationID: String
    var version: Int64
    @Nullable var baseVersion: Int64?
    var status: SpecificationStatus
    var sections: [String]
    var summary: String
    var body: String?
    var source: Lineage
    var createdAt: Int64
    @Nullable var promotedAt: Int64?
    @Nullable var supersededBy: Int64?

    init(_ version: SpecificationVersion, withBody: Bool) {
        specificationID = version.specificationID
        self.version = version.version
        baseVersion = version.baseVersion
        status = version.status
        sections = version.sections
        summary = version.summary
        body = withBody ? version.body : nil
        source = Lineage(sessionID: version.sessionID, turnID: version.turnID, agent: version.agent, agentVersion: version.agentVersion)
        createdAt = StoreTime.seconds(version.createdAt)
        promotedAt = version.promotedAt.map(StoreTime.seconds)
        supersededBy = version.supersededBy
    }
}

/// A version of a specification that a session's turn produced: each side of the session ↔ specification relation.
struct SessionWork: Encodable, Sendable {
    var specificationID: String
    var key: String
    var version: Int64
    var status: SpecificationStatus
    var sessionID: String
    var turnID: String
    @Nullable var agent: String?
    @Nullable var agentVersion: Int64?

    init(_ produced: SpecificationLineage) {
        specificationID = produced.specificationID
        key = produced.key
        version = produced.version
        status = produced.status
        sessionID = produced.sessionID
        turnID = produced.turnID
        agent = produced.agent
        agentVersion = produced.agentVersion
    }
}
