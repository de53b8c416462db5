import ConduitChat
import ConduitCore
import Foundation
import Hummingbird
import NIOCore
import Store
import Synchronization

/// Runs a session's turns: waits for a queued turn's place, builds the agent's call (its prompt over the
/// domain's and the project's variables, the session's earlier turns, its parameters and output schema),
/// makes it through the gateway as the caller, and stores how it ended. A turn running here can be
/// cancelled (`cancel`), the provider's call with it.
final class TurnRunner: Sendable {
    let store: Database
    let chat: ChatCompletionsController?
    private let running = Mutex<[String: @Sendable () -> Void]>([:])

    /// How many of the session's earlier turns a call carries.
    static let history = 10

    init(store: Database, chat: ChatCompletionsController?) {
        self.store = store
        self.chat = chat
    }

    /// Whether the gateway serves `model` as a chat model.
    func serves(_ model: String) -> Bool { chat?.gateway.configuration.current.models[model]?.kind == .chat }

    /// Milliseconds after which a turn still marked running was left by a node that stopped: no call
    /// outlives the gateway's total timeout.
    var staleAfter: Int64 {
        let timeout = chat?.gateway.configuration.current.totalTimeout ?? .seconds(600)
        return Int64(timeout / .milliseconds(1)) + 60_000
    }

    /// Cancels the turn if it runs on this node; false otherwise.
    func cancel(_ turnID: String) -> Bool {
        guard let cancel = running.withLock({ $0[turnID] }) else { return false }
        cancel()
        return true
    }

    struct Call: Sendable {
        let turn: Turn
        let session: AgentSession
        let project: Project
        let domain: Domain
        let agent: AgentDefinition
        let model: String
        let context: ConduitRequestContext
        let method: String
        let confidence: Double
    }

    /// Runs the turn to its end, handing each piece of the answer to `relay` as it arrives; returns the
    /// turn as stored. A relay that fails (its client left) cancels the turn.
    func run(_ call: Call, relay: (@Sendable (String) async throws -> Void)?) async throws -> Turn {
        var turn = call.turn
        while turn.status == "queued" {
            if let claimed = try await store.agentSessions.claim(
                turn, events: { AgentEvents.started($0, method: call.method, confidence: call.confidence) })
            {
                turn = claimed
            } else {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        guard turn.status == "running", let chat else { return turn }
        let body = try await request(for: call, turn: turn)
        let output = Mutex("")
        let clientLeft = Mutex(false)
        let context = call.context
        let task = Task {
            try await chat.stream(body, context: context) { chunk in
                // A cancelled turn stops at its next chunk: the stream then ends, and the provider's call with it.
                try Task.checkCancellation()
                guard case .array(let choices)? = chunk["choices"], case .object(let choice)? = choices.first,
                    case .object(let delta)? = choice["delta"], case .string(let text)? = delta["content"], !text.isEmpty
                else { return }
                output.withLock { $0 += text }
                do {
                    try await relay?(text)
                } catch {
                    clientLeft.withLock { $0 = true }
                    throw CancellationError()
                }
            }
        }
        running.withLock { $0[turn.id] = { task.cancel() } }
        defer { _ = running.withLock { $0.removeValue(forKey: turn.id) } }
        let ending: (status: String, outcome: InternalChatOutcome?, error: String?)
        do {
            let outcome = try await withTaskCancellationHandler {
                try await task.value
            } onCancel: {
                task.cancel()
            }
            ending = task.isCancelled ? ("cancelled", nil, nil) : ("completed", outcome, nil)
        } catch {
            ending = task.isCancelled || clientLeft.withLock({ $0 }) ? ("cancelled", nil, nil) : ("failed", nil, APIError(error).message)
        }
        let text = output.withLock { $0 }
        let store = self.store
        let (id, status, error) = (turn.id, ending.status, ending.error)
        let (usage, cost) = (ending.outcome?.usage, ending.outcome?.costUSD)
        // Recorded whatever becomes of the request: a caller that left still leaves a turn that ended.
        let finished = try await Task { @Sendable in
            try await store.agentSessions.finish(
                id, as: status, output: text, promptTokens: usage?.promptTokens, completionTokens: usage?.completionTokens, costUSD: cost,
                error: error, event: { AgentEvents.ended($0) })
        }.value
        if let finished { return finished }
        return try await store.agentSessions.turn(turn.id, sessionID: turn.sessionID, teamID: turn.teamID) ?? turn
    }

    /// The turn as server-sent events: `turn.started` (with the routing decision), `message.delta` with each
    /// piece of the answer, then `turn.completed`, `turn.failed` or `turn.cancelled` with the turn as stored.
    func stream(_ call: Call, routing: RouteDecision) -> Response {
        Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
            body: ResponseBody { writer in
                let (events, sink) = AsyncStream.makeStream(of: ByteBuffer.self, bufferingPolicy: .unbounded)
                let runner = Task {
                    defer { sink.finish() }
                    sink.yield(Self.event("turn.started", TurnView(call.turn)))
                    let turn = try await self.run(call) { text in
                        guard case .enqueued = sink.yield(Self.event("message.delta", ["content": text])) else { throw CancellationError() }
                    }
                    sink.yield(Self.event("turn.\(turn.status)", TurnView(turn)))
                }
                do {
                    for await event in events { try await writer.write(event) }
                    try await writer.finish(nil)
                } catch {
                    // The client left: the turn is cancelled, and stored as such.
                    runner.cancel()
                    sink.finish()
                }
                _ = await runner.result
            })
    }

    private static func event(_ name: String, _ value: some Encodable) -> ByteBuffer {
        let data = (try? wireJSON(value)) ?? Data("{}".utf8)
        return ByteBuffer(string: "event: \(name)\ndata: \(String(decoding: data, as: UTF8.self))\n\n")
    }

    /// The chat completion request for the turn.
    private func request(for call: Call, turn: Turn) async throws -> [String: JSONValue] {
        var variables = call.domain.variables
        variables["project.name"] = call.project.name
        variables["project.description"] = call.project.description
        variables["project.state"] = call.project.state
        variables["domain.name"] = call.domain.name
        variables["domain.title"] = call.domain.title
        let settings = call.domain.settings(of: call.agent.name)
        var system = call.agent.prompt(variables: variables)
        if let extra = settings.systemPromptAppend { system += "\n\n" + extra }
        var messages: [JSONValue] = [["role": "system", "content": .string(system)]]
        let earlier = try await store.agentSessions.turns(of: turn.sessionID, teamID: turn.teamID, finishedOnly: true, limit: Self.history)
        for previous in earlier where previous.seq < turn.seq {
            messages.append(["role": "user", "content": .string(previous.input)])
            messages.append(["role": "assistant", "content": .string(previous.output)])
        }
        messages.append(["role": "user", "content": .string(turn.input)])
        var body: [String: JSONValue] = call.agent.parameters.merging(settings.parameters) { $1 }
        body["model"] = .string(call.model)
        body["messages"] = .array(messages)
        if case .jsonSchema(let name, let schema) = call.agent.output {
            body["response_format"] = ["type": "json_schema", "json_schema": ["name": .string(name), "schema": schema, "strict": true]]
        }
        return body
    }
}

extension AgentEvents {
    /// A turn's start: it began, and the router chose its agent.
    static func started(_ turn: Turn, method: String, confidence: Double) -> [NewEvent] {
        var events = [
            NewEvent(
                TurnStarted(sessionID: turn.sessionID, turnID: turn.id, seq: turn.seq, agent: turn.agent, agentVersion: turn.agentVersion))
        ]
        if let agent = turn.agent {
            events.append(
                NewEvent(
                    AgentSelected(
                        sessionID: turn.sessionID, turnID: turn.id, agent: agent, agentVersion: turn.agentVersion, method: method,
                        confidence: confidence)))
        }
        return events
    }

    /// How a turn ended, as its event.
    static func ended(_ turn: Turn) -> NewEvent {
        switch turn.status {
        case "completed":
            NewEvent(
                TurnCompleted(
                    sessionID: turn.sessionID, turnID: turn.id, seq: turn.seq, agent: turn.agent, promptTokens: turn.promptTokens,
                    completionTokens: turn.completionTokens, costUSD: turn.costUSD))
        case "cancelled": cancelled(turn)
        default: NewEvent(TurnFailed(sessionID: turn.sessionID, turnID: turn.id, seq: turn.seq, error: turn.error ?? "failed"))
        }
    }

    static func cancelled(_ turn: Turn) -> NewEvent { NewEvent(TurnCancelled(sessionID: turn.sessionID, turnID: turn.id, seq: turn.seq)) }
}
