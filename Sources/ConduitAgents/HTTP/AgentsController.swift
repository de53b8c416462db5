import ConduitCore
import Foundation
import Hummingbird
import Store

/// `/v1/agents`, `/v1/domains` and `/v1/route`: the declared agents and their versions, the domains as
/// resolved (with where each value came from), the router's decision for a request, and its measure on
/// labelled requests (`…/router/evaluate`) with thresholds fitted to them (`…/router/calibrate`).
struct AgentsController {
    let library: Live<AgentsConfiguration>
    let versions: AgentVersions
    let router: AgentRouter
    let projects: ProjectsRepository
    let teams: TeamScope
    /// Whether the gateway serves a chat model of this name.
    let servesChatModel: @Sendable (String) -> Bool
    let limits: Live<APILimits>
    let rateLimiter: RateLimiter?

    /// Most bytes of a request to route, and of each labelled one: the model reads the first 256 tokens.
    static let maximumInputBytes = 16_384

    func addRoutes(to routes: some RouterMethods<ConduitRequestContext>) {
        routes.get("/v1/agents") { request, _ in try await agents(request) }
        routes.get("/v1/agents/{name}") { _, context in try await agent(context) }
        routes.get("/v1/agents/{name}/versions") { _, context in try await agentVersions(context) }
        routes.get("/v1/domains") { _, _ in
            let library = self.library.read(\.library)
            return try json(
                CompleteList(
                    data: library.domains.values.sorted { $0.name < $1.name }.map {
                        DomainView($0, library: library, detailed: false, resolved: false)
                    }))
        }
        routes.get("/v1/domains/{name}") { request, context in
            let library = self.library.read(\.library)
            let domain = try Self.domain(try context.parameters.require("name"), in: library, param: nil)
            let resolved = try Self.flag(request.uri.queryParameters["resolved"].map(String.init), name: "resolved")
            return try json(DomainView(domain, library: library, detailed: true, resolved: resolved))
        }
        routes.post("/v1/route") { request, context in try await route(request, context: context) }
        routes.post("/v1/domains/{name}/router/evaluate") { request, context in
            let (domain, labels, scores) = try await measured(request, context: context)
            return try json(
                RouterEvaluation(
                    domain: domain.name, labels: labels, scores: scores,
                    thresholds: Dictionary(scores.flatMap { $0.map { ($0.agent, $0.threshold) } }) { first, _ in first }))
        }
        routes.post("/v1/domains/{name}/router/calibrate") { request, context in
            let (domain, labels, scores) = try await measured(request, context: context)
            return try json(RouterCalibration(domain: domain.name, labels: labels, scores: scores))
        }
    }

    private func agents(_ request: Request) async throws -> Response {
        let library = self.library.read(\.library)
        let domainName = request.uri.queryParameters["domain"].map(String.init)
        let domain = try domainName.map { try Self.domain($0, in: library, param: "domain") }
        var listed: [AgentSummary] = []
        for agent in library.agents.values.sorted(by: { $0.name < $1.name }) where domain?.offers(agent.name) ?? true {
            listed.append(
                AgentSummary(
                    name: agent.name, description: agent.description, responsibilities: agent.responsibilities, model: agent.model,
                    available: servesChatModel(agent.model), version: try await versions.version(of: agent), produces: agent.produces,
                    domains: Self.domains(offering: agent.name, in: library)))
        }
        return try json(CompleteList(data: listed))
    }

    private func agent(_ context: ConduitRequestContext) async throws -> Response {
        let library = self.library.read(\.library)
        let agent = try Self.agent(try context.parameters.require("name"), in: library)
        let output: JSONValue =
            switch agent.output {
            case .text: "text"
            case .jsonSchema(let name, let schema): ["json_schema": ["name": .string(name), "schema": schema]]
            }
        return try json(
            AgentDetail(
                name: agent.name, description: agent.description, responsibilities: agent.responsibilities, model: agent.model,
                available: servesChatModel(agent.model), version: try await versions.version(of: agent), contentHash: agent.contentHash,
                utterances: agent.utterances, systemPrompt: agent.declaration["system_prompt"]?.stringValue ?? "",
                parameters: agent.parameters,
                output: output, produces: agent.produces, threshold: agent.threshold,
                domains: Self.domains(offering: agent.name, in: library)))
    }

    private func agentVersions(_ context: ConduitRequestContext) async throws -> Response {
        let agent = try Self.agent(try context.parameters.require("name"), in: library.read(\.library))
        // The version read now is recorded before the list is: it is always in it.
        let current = try await versions.version(of: agent)
        let recorded = try await versions.store.agentVersions.list(agent: agent.name)
        return try json(CompleteList(data: recorded.map { AgentVersionView($0, current: $0.version == current) }))
    }

    private struct RouteRequest: Decodable {
        var input: String
        var domain: String?
        var agent: String?
        var projectID: String?
        var sessionID: String?

        enum CodingKeys: String, CodingKey {
            case input, domain, agent
            case projectID = "project_id"
            case sessionID = "session_id"
        }
    }

    private func route(_ request: Request, context: ConduitRequestContext) async throws -> Response {
        let body = try await request.decodeJSON(as: RouteRequest.self, limit: limits.read(\.maxBodyBytes))
        let input = body.input
        guard !input.allSatisfy(\.isWhitespace) else {
            throw InvalidInput("input must not be empty", param: "input", code: "invalid_value")
        }
        guard input.utf8.count <= Self.maximumInputBytes else {
            throw InvalidInput(
                "input takes at most \(Self.maximumInputBytes) bytes: a request to route, not a document", param: "input",
                code: "input_too_long")
        }
        let library = self.library.read(\.library)
        var domainName = body.domain ?? AgentLibrary.defaultDomain
        var facts: AgentRouter.SessionFacts?
        var projectID = body.projectID
        if let sessionID = body.sessionID {
            guard let session = try await teams.store.agentSessions.find(sessionID, teamID: try await teams.teamID(context)) else {
                throw StoreError.notFound("session \(sessionID)")
            }
            if let named = projectID, named != session.projectID {
                throw InvalidInput("the session is of another project", param: "project_id", code: "invalid_value")
            }
            projectID = session.projectID
            facts = try await teams.store.agentSessions.facts(of: session)
        }
        if let projectID {
            guard let project = try await projects.find(projectID, teamID: try await teams.teamID(context)) else {
                throw StoreError.notFound("project \(projectID)")
            }
            if let named = body.domain, named != project.domain {
                throw InvalidInput(
                    "the project is of the domain '\(project.domain)', not '\(named)'", param: "domain", code: "invalid_value")
            }
            domainName = project.domain
        }
        let domain = try Self.domain(domainName, in: library, param: "domain")
        _ = try await rateLimiter?.admit(context.identity, tokens: max(1, input.utf8.count / 4))
        var decision = try await router.route(
            input, agent: body.agent, in: domain, of: library, tenant: context.identity?.tenant ?? "", session: facts)
        if let chosen = decision.agent, let agent = library.agents[chosen] { decision.version = try await versions.version(of: agent) }
        return try json(decision)
    }

    private struct Examples: Decodable {
        var examples: [LabelledInput]
    }

    /// The domain, the labelled requests' labels and their scores, for evaluation and calibration.
    private func measured(_ request: Request, context: ConduitRequestContext) async throws -> (
        Domain, [String?], [[(agent: String, score: Double, threshold: Double)]]
    ) {
        let library = self.library.read(\.library)
        let domain = try Self.domain(try context.parameters.require("name"), in: library, param: nil)
        let body = try await request.decodeJSON(as: Examples.self, limit: limits.read(\.maxBodyBytes))
        let maximum = limits.read(\.maxInputs)
        guard (1...maximum).contains(body.examples.count) else {
            throw InvalidInput(
                "examples takes 1 to \(maximum) labelled requests (limits.max_inputs)", param: "examples", code: "invalid_value")
        }
        for (index, example) in body.examples.enumerated() {
            guard !example.input.allSatisfy(\.isWhitespace), example.input.utf8.count <= Self.maximumInputBytes else {
                throw InvalidInput(
                    "examples[\(index)].input must be 1 to \(Self.maximumInputBytes) bytes", param: "examples[\(index)].input",
                    code: "invalid_value")
            }
            if let agent = example.agent, !domain.offers(agent) || library.agents[agent] == nil {
                throw InvalidInput(
                    "examples[\(index)].agent: the domain '\(domain.name)' offers no agent '\(agent)'", param: "examples[\(index)].agent",
                    code: "unknown_agent")
            }
        }
        let inputs = body.examples.map(\.input)
        _ = try await rateLimiter?.admit(context.identity, tokens: max(1, inputs.reduce(0) { $0 + $1.utf8.count } / 4))
        let scores = try await router.scores(of: inputs, in: domain, of: library, tenant: context.identity?.tenant ?? "")
        return (domain, body.examples.map(\.agent), scores)
    }

    static func domain(_ name: String, in library: AgentLibrary, param: String?) throws -> Domain {
        guard let domain = library.domains[name] else {
            let known = library.domains.keys.sorted().joined(separator: ", ")
            if let param { throw InvalidInput("no domain '\(name)'; the domains are \(known)", param: param, code: "unknown_domain") }
            throw StoreError.notFound("domain '\(name)' (the domains are \(known))")
        }
        return domain
    }

    private static func agent(_ name: String, in library: AgentLibrary) throws -> AgentDefinition {
        guard let agent = library.agents[name] else { throw StoreError.notFound("agent '\(name)'") }
        return agent
    }

    private static func domains(offering agent: String, in library: AgentLibrary) -> [String] {
        library.domains.values.filter { $0.offers(agent) }.map(\.name).sorted()
    }

    private static func flag(_ value: String?, name: String) throws -> Bool {
        switch value {
        case nil, "false": return false
        case "true": return true
        default: throw InvalidInput("\(name) takes true or false", param: name, code: "invalid_value")
        }
    }
}
