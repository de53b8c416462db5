import ConduitChat
import ConduitCore
import Foundation
import Hummingbird
import NIOCore
import Store

/// A project's sessions with its agents and their turns. `POST /v1/projects/{id}/sessions` begins one,
/// pinning the versions of the agents its domain offers, with a concurrency policy: a turn asked for while
/// another runs is refused (`reject`: 409 `session_busy` naming the running turn) or waits its turn in a
/// visible queue (`enqueue`). `POST /v1/sessions/{id}/turns` routes the input (or takes the agent named),
/// calls the agent's model through the gateway and answers as a stream of events (`stream`) or whole
/// (`wait`); every routing decision, output, token count and cost is stored with the turn, and an
/// `Idempotency-Key` returns the turn it made before. `…/turns/{turn}/cancel` stops one; `…/end` ends the
/// session (twice: 409 `session_ended`).
struct SessionsController {
    let teams: TeamScope
    let library: Live<AgentsConfiguration>
    let versions: AgentVersions
    let router: AgentRouter
    let turns: TurnRunner
    let limits: Live<APILimits>

    private var store: Database { teams.store }

    /// Most bytes of a turn's input.
    static let maximumInputBytes = 65_536

    func addRoutes(to routes: some RouterMethods<ConduitRequestContext>) {
        routes.post("/v1/projects/{id}/sessions") { request, context in try await create(request, context: context) }
        routes.get("/v1/projects/{id}/sessions") { _, context in
            let project = try await teams.project(context)
            let sessions = try await store.agentSessions.list(projectID: project.id, teamID: project.teamID, limit: 100)
            var views: [SessionView] = []
            for session in sessions { views.append(try await view(session)) }
            return try json(CompleteList(data: views))
        }
        routes.get("/v1/sessions/{id}") { _, context in try json(try await view(try await session(context))) }
        routes.post("/v1/sessions/{id}/end") { _, context in
            let session = try await session(context)
            guard
                try await store.agentSessions.end(
                    session.id, teamID: session.teamID,
                    event: NewEvent(AgentEvents.SessionEnded(sessionID: session.id, projectID: session.projectID)),
                    cancelled: { AgentEvents.cancelled($0) })
            else { throw Self.ended(session) }
            return try json(try await view(try await self.session(context)))
        }
        routes.post("/v1/sessions/{id}/turns") { request, context in try await turn(request, context: context) }
        routes.get("/v1/sessions/{id}/turns") { _, context in
            let session = try await session(context)
            return try json(
                CompleteList(data: try await store.agentSessions.turns(of: session.id, teamID: session.teamID).map(TurnView.init)))
        }
        routes.get("/v1/sessions/{id}/turns/{turn}") { _, context in try json(TurnView(try await turn(context))) }
        routes.post("/v1/sessions/{id}/turns/{turn}/cancel") { _, context in
            let turn = try await turn(context)
            guard !turn.isFinished else {
                throw APIError(status: .conflict, message: "the turn has ended (\(turn.status))", param: "turn", code: "turn_finished")
            }
            let dequeued =
                turn.status == "queued"
                ? try await store.agentSessions.finish(
                    turn.id, as: "cancelled", from: ["queued"], output: "", promptTokens: nil, completionTokens: nil, costUSD: nil,
                    error: nil
                ) { AgentEvents.cancelled($0) } : nil
            // Not queued any more (or never): it runs, here or on another node.
            if dequeued == nil, !turns.cancel(turn.id) {
                throw APIError(
                    status: .conflict, message: "the turn runs on another node of the deployment; cancel it there, or wait for it",
                    param: "turn", code: "turn_elsewhere")
            }
            // The runner settles a running turn once its call has stopped.
            for _ in 0..<100 {
                let now = try await self.turn(context)
                if now.isFinished { return try json(TurnView(now)) }
                try await Task.sleep(for: .milliseconds(20))
            }
            return try json(TurnView(try await self.turn(context)), status: .accepted)
        }
    }

    private struct NewSession: Decodable {
        var title: String?
        var concurrency: String?
    }

    private func create(_ request: Request, context: ConduitRequestContext) async throws -> Response {
        let body = try await request.decodeJSON(as: NewSession.self, limit: limits.read(\.maxBodyBytes))
        let concurrency = body.concurrency ?? "reject"
        guard ["reject", "enqueue"].contains(concurrency) else {
            throw InvalidInput("concurrency takes reject or enqueue", param: "concurrency", code: "invalid_value")
        }
        let title = (body.title ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard title.utf8.count <= 400 else { throw InvalidInput("title takes at most 400 bytes", param: "title", code: "invalid_value") }
        let project = try await teams.project(context)
        let library = self.library.read(\.library)
        let domain = try ProjectsController.domain(of: project, in: library)
        var pinned: [String: Int64] = [:]
        for agent in library.agents.values where domain.offers(agent.name) { pinned[agent.name] = try await versions.version(of: agent) }
        let session = try await store.agentSessions.create(
            projectID: project.id, teamID: project.teamID, title: title, concurrency: concurrency, pinned: pinned
        ) { NewEvent(AgentEvents.SessionCreated(sessionID: $0, projectID: project.id, concurrency: concurrency)) }
        return try json(try await view(session), status: .created)
    }

    private struct TurnRequest: Decodable {
        var input: String
        var agent: String?
        var mode: String?
    }

    private func turn(_ request: Request, context: ConduitRequestContext) async throws -> Response {
        let body = try await request.decodeJSON(as: TurnRequest.self, limit: limits.read(\.maxBodyBytes))
        guard !body.input.allSatisfy(\.isWhitespace), body.input.utf8.count <= Self.maximumInputBytes else {
            throw InvalidInput("input takes 1 to \(Self.maximumInputBytes) bytes", param: "input", code: "invalid_value")
        }
        let mode = body.mode ?? "wait"
        guard ["stream", "wait", "background"].contains(mode) else {
            throw InvalidInput("mode takes stream, wait or background", param: "mode", code: "invalid_value")
        }
        let key = try request.idempotencyKey()
        let session = try await session(context)
        if let key, let earlier = try await store.agentSessions.turn(idempotencyKey: key, sessionID: session.id, teamID: session.teamID) {
            return Self.replay(earlier)
        }
        guard session.status == "open" else { throw Self.ended(session) }
        // A turn calls a chat model with the caller's free-form input: it needs what the chat route needs.
        if let identity = context.identity, !identity.scopes.contains(.chat) { throw RequireScope.lacking(.chat) }
        guard let project = try await store.projects.find(session.projectID, teamID: session.teamID) else {
            throw StoreError.notFound("project \(session.projectID)")
        }
        let library = self.library.read(\.library)
        let domain = try ProjectsController.domain(of: project, in: library)
        var decision = try await route(body, in: session, domain: domain, library: library, context: context)
        guard let chosen = decision.agent, let current = library.agents[chosen] else {
            var error = APIError(
                status: .unprocessableContent,
                message:
                    "no agent of the domain '\(domain.name)' is close enough to this request (its best score \(decision.confidence) is under "
                    + "\(decision.threshold ?? 0)) and the domain has no fallback agent: say more, or name the agent",
                param: "input", code: "needs_clarification")
            error.details = ["routing": (try? JSONDecoder().decode(JSONValue.self, from: wireJSON(decision))) ?? .null]
            throw error
        }
        let agent = try await pinned(current, in: session)
        decision.version = agent.version
        let model = domain.settings(of: chosen).model ?? agent.definition.model
        guard turns.serves(model) else {
            throw APIError(
                status: .serviceUnavailable,
                message: "the agent '\(chosen)' calls the model '\(model)', which the gateway does not serve (chat.models_file)",
                param: "agent",
                code: "model_unavailable")
        }
        let routing = String(decoding: try wireJSON(decision), as: UTF8.self)
        let (method, confidence) = (decision.method.rawValue, decision.confidence)
        let new = NewTurn(input: body.input, agent: chosen, agentVersion: agent.version, routing: routing, idempotencyKey: key)
        let started = try await store.agentSessions.start(
            new, in: session, enqueue: session.concurrency == "enqueue", staleAfter: turns.staleAfter,
            events: { turn, position in
                turn.status == "queued"
                    ? [NewEvent(AgentEvents.TurnQueued(sessionID: turn.sessionID, turnID: turn.id, seq: turn.seq, position: position))]
                    : AgentEvents.started(turn, method: method, confidence: confidence)
            }, abandoned: { AgentEvents.ended($0) })
        let turn: Turn
        switch started {
        case .started(let running): turn = running
        case .queued(let queued, _): turn = queued
        case .replayed(let earlier): return Self.replay(earlier)
        case .ended: throw Self.ended(session)
        case .busy(let active):
            var error = APIError(
                status: .conflict,
                message:
                    "the session is busy with turn \(active ?? "(starting)"); wait for it, or begin the session with concurrency enqueue",
                param: nil, code: "session_busy")
            error.details = ["active_turn_id": active.map(JSONValue.string) ?? .null]
            throw error
        }
        let call = TurnRunner.Call(
            turn: turn, project: project, domain: domain, agent: agent.definition, model: model, context: context,
            method: decision.method.rawValue, confidence: decision.confidence)
        switch mode {
        case "stream": return turns.stream(call)
        case "background":
            turns.inBackground(call)
            var response = try json(TurnView(turn), status: .accepted)
            response.headers[.location] = "/v1/sessions/\(session.id)/turns/\(turn.id)"
            return response
        // The turn runs on if the request is given up (its deadline): its end is then at its URL and in the events.
        default: return try json(TurnView(try await turns.inBackground(call).value))
        }
    }

    /// The decision for a turn: the agent named, the session's agent while it asks for details, or the router's.
    private func route(_ body: TurnRequest, in session: AgentSession, domain: Domain, library: AgentLibrary, context: ConduitRequestContext)
        async throws -> RouteDecision
    {
        try await router.route(
            body.input, agent: body.agent == "auto" ? nil : body.agent, in: domain, of: library, tenant: context.identity?.tenant ?? "",
            session: try await store.agentSessions.facts(of: session))
    }

    /// The agent as the session pinned it (its version when the session began), or as it is now for an agent
    /// the session did not know.
    private func pinned(_ current: AgentDefinition, in session: AgentSession) async throws -> (definition: AgentDefinition, version: Int64)
    {
        let now = try await versions.version(of: current)
        guard let version = session.pinnedVersions[current.name], version != now,
            let stored = try await store.agentVersions.find(agent: current.name, version: version),
            case .object(let declaration) = try JSONDecoder().decode(JSONValue.self, from: Data(stored.declaration.utf8))
        else { return (current, now) }
        return (try AgentDefinition(name: current.name, declaration: declaration, file: "version \(version) of \(current.name)"), version)
    }

    private static func replay(_ turn: Turn) -> Response {
        var response = (try? json(TurnView(turn))) ?? Response(status: .ok)
        response.headers[.idempotentReplayed] = "true"
        return response
    }

    private static func ended(_ session: AgentSession) -> APIError {
        APIError(status: .conflict, message: "the session \(session.id) has ended", code: "session_ended")
    }

    private func session(_ context: ConduitRequestContext) async throws -> AgentSession {
        let id = try context.parameters.require("id")
        guard let session = try await store.agentSessions.find(id, teamID: try await teams.teamID(context)) else {
            throw StoreError.notFound("session \(id)")
        }
        return session
    }

    private func turn(_ context: ConduitRequestContext) async throws -> Turn {
        let session = try await session(context)
        let id = try context.parameters.require("turn")
        guard let turn = try await store.agentSessions.turn(id, sessionID: session.id, teamID: session.teamID) else {
            throw StoreError.notFound("turn \(id)")
        }
        return turn
    }

    private func view(_ session: AgentSession) async throws -> SessionView {
        let turns = try await store.agentSessions.unfinished(of: session.id, teamID: session.teamID)
        return SessionView(
            session, queue: turns.filter { $0.status == "queued" }.map(\.id), running: turns.first { $0.status == "running" }?.id)
    }
}

struct SessionView: Encodable, Sendable {
    var id: String
    var object = "session"
    var projectID: String
    var title: String
    var concurrency: String
    var status: String
    @Nullable var activeAgent: String?
    /// Agent → the version the session runs.
    var pinned: [String: Int64]
    @Nullable var runningTurn: String?
    /// The queued turns, next first.
    var queue: [String]
    var createdAt: Int64
    @Nullable var endedAt: Int64?

    init(_ session: AgentSession, queue: [String], running: String?) {
        id = session.id
        projectID = session.projectID
        title = session.title
        concurrency = session.concurrency
        status = session.status
        activeAgent = session.activeAgent
        pinned = session.pinnedVersions
        runningTurn = running
        self.queue = queue
        createdAt = StoreTime.seconds(session.createdAt)
        endedAt = session.endedAt.map(StoreTime.seconds)
    }
}

struct TurnView: Encodable, Sendable {
    var id: String
    var object = "turn"
    var sessionID: String
    var seq: Int64
    var status: String
    var input: String
    @Nullable var agent: String?
    @Nullable var agentVersion: Int64?
    var routing: JSONValue
    var output: String
    var usage: Usage
    @Nullable var error: String?
    var createdAt: Int64
    @Nullable var finishedAt: Int64?

    struct Usage: Encodable, Sendable {
        @Nullable var promptTokens: Int64?
        @Nullable var completionTokens: Int64?
        @Nullable var costUSD: Double?

        enum CodingKeys: String, CodingKey {
            case promptTokens = "prompt_tokens"
            case completionTokens = "completion_tokens"
            case costUSD = "cost_usd"
        }
    }

    init(_ turn: Turn) {
        id = turn.id
        sessionID = turn.sessionID
        seq = turn.seq
        status = turn.status
        input = turn.input
        agent = turn.agent
        agentVersion = turn.agentVersion
        routing = (try? JSONDecoder().decode(JSONValue.self, from: Data(turn.routing.utf8))) ?? .null
        output = turn.output
        usage = Usage(promptTokens: turn.promptTokens, completionTokens: turn.completionTokens, costUSD: turn.costUSD)
        error = turn.error
        createdAt = StoreTime.seconds(turn.createdAt)
        finishedAt = turn.finishedAt.map(StoreTime.seconds)
    }
}
