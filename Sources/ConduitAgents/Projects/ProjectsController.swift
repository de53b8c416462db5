import ConduitCore
import Foundation
import Hummingbird
import Store

/// `/v1/projects`: a team's projects and their lifecycles. `POST /v1/projects/{id}/transitions` moves one
/// only along a transition its domain allows (409 `invalid_transition`, listing the allowed ones), with
/// every guard satisfied (422 `guard_failed`, naming each that is not), from the version the caller saw
/// when it gives one (412 `version_conflict`); each move is kept (`GET …/transitions`) and announced.
struct ProjectsController {
    let teams: TeamScope
    let library: Live<AgentsConfiguration>
    let limits: Live<APILimits>

    private var store: Database { teams.store }

    func addRoutes(to routes: some RouterMethods<ConduitRequestContext>) {
        routes.post("/v1/projects") { request, context in try await create(request, context: context) }
        routes.get("/v1/projects") { request, context in
            let page = try ListPage(request)
            let state = request.uri.queryParameters["state"].map(String.init)
            let projects = try await store.projects.list(
                teamID: try await teams.teamID(context), state: state, limit: page.fetch, after: page.after)
            return try page.response(projects, id: \.id, view: ProjectView.init)
        }
        routes.get("/v1/projects/{id}") { _, context in try json(ProjectView(try await teams.project(context))) }
        routes.get("/v1/projects/{id}/transitions") { _, context in try await lifecycle(context) }
        routes.post("/v1/projects/{id}/transitions") { request, context in try await transition(request, context: context) }
    }

    private struct NewProject: Decodable {
        var name: String
        var description: String?
        var domain: String?
    }

    private func create(_ request: Request, context: ConduitRequestContext) async throws -> Response {
        let body = try await request.decodeJSON(as: NewProject.self, limit: limits.read(\.maxBodyBytes))
        let name = body.name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty, name.utf8.count <= 400 else {
            throw InvalidInput("name takes 1 to 400 bytes of text", param: "name", code: "invalid_value")
        }
        let description = body.description ?? ""
        guard description.utf8.count <= 10_000 else {
            throw InvalidInput("description takes at most 10000 bytes", param: "description", code: "invalid_value")
        }
        let domain = try AgentsController.domain(body.domain ?? AgentLibrary.defaultDomain, in: library.read(\.library), param: "domain")
        let state = domain.lifecycle.initial
        let project = try await store.projects.create(
            teamID: try await teams.teamID(context), name: name, description: description, domain: domain.name, state: state
        ) { id in NewEvent(AgentEvents.ProjectCreated(projectID: id, name: name, domain: domain.name, state: state)) }
        return try json(ProjectView(project), status: .created)
    }

    /// The project's lifecycle now: where it is, where it may go and whether each guard holds, and its history.
    private func lifecycle(_ context: ConduitRequestContext) async throws -> Response {
        let project = try await teams.project(context)
        let domain = try domain(of: project)
        var allowed: [LifecycleView.Allowed] = []
        for transition in domain.lifecycle.transitions(from: project.state) {
            allowed.append(
                LifecycleView.Allowed(
                    to: transition.to, guards: try await checks(of: transition.guards, for: project, in: domain, reason: nil)))
        }
        let history = try await store.projects.transitions(of: project.id, teamID: project.teamID)
        return try json(
            LifecycleView(current: project.state, version: project.version, allowed: allowed, history: history.map(TransitionView.init)))
    }

    private struct TransitionRequest: Decodable {
        var to: String
        var reason: String?
        var expectedVersion: Int64?

        enum CodingKeys: String, CodingKey {
            case to, reason
            case expectedVersion = "expected_version"
        }
    }

    private func transition(_ request: Request, context: ConduitRequestContext) async throws -> Response {
        let body = try await request.decodeJSON(as: TransitionRequest.self, limit: limits.read(\.maxBodyBytes))
        let reason = (body.reason ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard reason.utf8.count <= 2_000 else {
            throw InvalidInput("reason takes at most 2000 bytes", param: "reason", code: "invalid_value")
        }
        let project = try await teams.project(context)
        if let expected = body.expectedVersion, expected != project.version { throw Self.stale(project, expected: expected) }
        let domain = try domain(of: project)
        let moves = domain.lifecycle.transitions(from: project.state)
        guard let move = moves.first(where: { $0.to == body.to }) else {
            let allowed = moves.map(\.to)
            var error = APIError(
                status: .conflict,
                message: "a project in '\(project.state)' cannot move to '\(body.to.bounded())'; "
                    + (allowed.isEmpty ? "it may move nowhere" : "it may move to \(allowed.joined(separator: ", "))"),
                param: "to", code: "invalid_transition")
            error.details = ["allowed": .array(allowed.map(JSONValue.string))]
            throw error
        }
        let checks = try await checks(of: move.guards, for: project, in: domain, reason: reason)
        let failed = checks.filter { !$0.satisfied }
        guard failed.isEmpty else {
            var error = APIError(
                status: .unprocessableContent,
                message: "the move to '\(move.to)' needs " + failed.map { "\($0.guard) (\($0.message))" }.joined(separator: "; "),
                param: "to", code: "guard_failed")
            error.details = [
                "guards": .array(
                    failed.map { .object(["guard": .string($0.guard), "satisfied": .bool(false), "message": .string($0.message)]) })
            ]
            throw error
        }
        let event = NewEvent(
            AgentEvents.ProjectTransitioned(
                projectID: project.id, from: project.state, to: move.to, reason: reason, version: project.version + 1))
        guard
            let (moved, transition) = try await store.projects.transition(
                project.id, teamID: project.teamID, at: project.version, to: move.to, reason: reason, event: event)
        else {
            // Another move won the race since it was read.
            let now = try await teams.project(context)
            guard body.expectedVersion == nil else { throw Self.stale(now, expected: project.version) }
            throw APIError(
                status: .conflict, message: "the project moved to '\(now.state)' while this move was checked; read it again and decide",
                param: "to", code: "invalid_transition")
        }
        return try json(TransitionResult(project: ProjectView(moved), transition: TransitionView(transition)))
    }

    private static func stale(_ project: Project, expected: Int64) -> APIError {
        var error = APIError(
            status: .preconditionFailed,
            message: "the project is at version \(project.version) (state '\(project.state)'), not \(expected): read it again and decide",
            param: "expected_version", code: "version_conflict")
        error.details = ["current_version": .integer(project.version)]
        return error
    }

    private func domain(of project: Project) throws -> Domain { try Self.domain(of: project, in: library.read(\.library)) }

    /// The project's domain as declared now; 409 `domain_unavailable` when it no longer is.
    static func domain(of project: Project, in library: AgentLibrary) throws -> Domain {
        guard let domain = library.domains[project.domain] else {
            throw APIError(
                status: .conflict, message: "the project's domain '\(project.domain)' is no longer declared (agents.domains_dir)",
                code: "domain_unavailable")
        }
        return domain
    }

    private func checks(of guards: [Guard], for project: Project, in domain: Domain, reason: String?) async throws -> [GuardCheck] {
        var checks: [GuardCheck] = []
        for condition in guards {
            switch condition {
            case .reasonGiven:
                let given = !(reason ?? "").isEmpty
                checks.append(
                    GuardCheck(
                        guard: condition.description, satisfied: given, message: given ? "a reason is given" : "the move needs a reason"))
            case .currentSpecification(let key):
                let required = domain.specifications[key]?.requiredSections ?? []
                let sections = try await store.projects.currentSpecificationSections(
                    projectID: project.id, teamID: project.teamID, key: key)
                let missing = required.filter { !(sections ?? []).contains($0) }
                let message =
                    sections == nil
                    ? "the specification '\(key)' has no current version"
                    : missing.isEmpty
                        ? "the specification '\(key)' has a current version"
                        : "the current '\(key)' lacks \(missing.joined(separator: ", "))"
                checks.append(GuardCheck(guard: condition.description, satisfied: sections != nil && missing.isEmpty, message: message))
            }
        }
        return checks
    }
}

struct GuardCheck: Encodable, Sendable {
    var `guard`: String
    var satisfied: Bool
    var message: String
}

struct ProjectView: Encodable, Sendable {
    var id: String
    var object = "project"
    var name: String
    var description: String
    var domain: String
    var state: String
    var version: Int64
    var createdAt: Int64
    var updatedAt: Int64

    init(_ project: Project) {
        id = project.id
        name = project.name
        description = project.description
        domain = project.domain
        state = project.state
        version = project.version
        createdAt = StoreTime.seconds(project.createdAt)
        updatedAt = StoreTime.seconds(project.updatedAt)
    }
}

struct TransitionView: Encodable, Sendable {
    var from: String
    var to: String
    var reason: String
    @Nullable var actor: String?
    var version: Int64
    var createdAt: Int64

    init(_ transition: ProjectTransition) {
        from = transition.fromState
        to = transition.toState
        reason = transition.reason
        actor = transition.actor
        version = transition.version
        createdAt = StoreTime.seconds(transition.createdAt)
    }
}

struct TransitionResult: Encodable, Sendable {
    var project: ProjectView
    var transition: TransitionView
}

struct LifecycleView: Encodable, Sendable {
    struct Allowed: Encodable, Sendable {
        var to: String
        var guards: [GuardCheck]
    }

    var current: String
    var version: Int64
    var allowed: [Allowed]
    var history: [TransitionView]
}
