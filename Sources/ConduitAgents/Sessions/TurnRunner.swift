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

    /// Cancels the turn if this node runs it (or waits for its place); false otherwise.
    func cancel(_ turnID: String) -> Bool {
        guard let cancel = running.withLock({ $0[turnID] }) else { return false }
        cancel()
        return true
    }

    struct Call: Sendable {
        let turn: Turn
        let project: Project
        let domain: Domain
        let agent: AgentDefinition
        let model: String
        let context: ConduitRequestContext
        let method: String
        let confidence: Double
    }

    /// Runs the turn to its end, handing each piece of the answer to `relay` as it arrives; returns the
    /// turn as stored. A relay that fails (its client left) cancels the turn. Whatever stops it (a cancel, a
    /// failure, the caller's task cancelled while the turn waits its place), the turn is left neither queued
    /// nor running.
    func run(_ call: Call, relay: (@Sendable (String) async throws -> Void)?) async throws -> Turn {
        let control = TurnControl()
        running.withLock { $0[call.turn.id] = { control.cancel() } }
        defer { _ = running.withLock { $0.removeValue(forKey: call.turn.id) } }
        do {
            let turn = try await place(call, control: control)
            guard turn.status == "running" else { return turn }
            return try await answer(call, turn: turn, control: control, relay: relay)
        } catch {
            let cancelled = control.isCancelled || error is CancellationError
            return try await settle(
                call.turn, as: cancelled ? "cancelled" : "failed", output: "", outcome: nil,
                error: cancelled ? nil : APIError(error).message)
        }
    }

    /// Waits for a queued turn's place (polling, more slowly the longer it waits); the turn once it runs, or
    /// as it ended while it waited.
    private func place(_ call: Call, control: TurnControl) async throws -> Turn {
        var turn = call.turn
        var pause = Duration.milliseconds(50)
        var heard = ContinuousClock.now
        while turn.status == "queued" {
            if control.isCancelled { throw CancellationError() }
            // The waiter says it is still there: a queued turn nobody waits for is swept.
            if ContinuousClock.now - heard > .seconds(5) {
                try await store.agentSessions.heartbeat(turn.id)
                heard = .now
            }
            if let claimed = try await store.agentSessions.claim(
                turn, staleAfter: staleAfter, events: { AgentEvents.started($0, method: call.method, confidence: call.confidence) },
                abandoned: { AgentEvents.ended($0) })
            {
                turn = claimed
            } else {
                try await Task.sleep(for: pause)
                pause = min(pause * 2, .milliseconds(500))
            }
        }
        return turn
    }

    /// Calls the agent's model for a running turn and stores what came of it.
    private func answer(_ call: Call, turn: Turn, control: TurnControl, relay: (@Sendable (String) async throws -> Void)?) async throws
        -> Turn
    {
        guard let chat else { throw CancellationError() }
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
        control.attach { task.cancel() }
        do {
            let outcome = try await withTaskCancellationHandler {
                try await task.value
            } onCancel: {
                task.cancel()
            }
            // A cancelled call may end as a stream that merely stopped: it was cancelled all the same, and
            // what it used is kept.
            let cancelled = control.isCancelled || task.isCancelled || clientLeft.withLock { $0 }
            return try await settle(
                turn, as: cancelled ? "cancelled" : "completed", output: output.withLock { $0 }, outcome: outcome, error: nil)
        } catch {
            let cancelled = control.isCancelled || task.isCancelled || clientLeft.withLock { $0 }
            return try await settle(
                turn, as: cancelled ? "cancelled" : "failed", output: output.withLock { $0 }, outcome: nil,
                error: cancelled ? nil : APIError(error).message)
        }
    }

    /// Stores how the turn ended, whatever becomes of the request (a caller that left still leaves a turn
    /// that ended); the turn as stored.
    private func settle(_ turn: Turn, as status: String, output: String, outcome: InternalChatOutcome?, error: String?) async throws -> Turn
    {
        let store = self.store
        let (usage, cost) = (outcome?.usage, outcome?.costUSD)
        return try await Task { @Sendable in
            let finished = try await store.agentSessions.finish(
                turn.id, as: status, output: output, promptTokens: usage?.promptTokens, completionTokens: usage?.completionTokens,
                costUSD: cost, error: error, event: { AgentEvents.ended($0) })
            if let finished { return finished }
            // It had ended already (dequeued, swept): as it is.
            return try await store.agentSessions.turn(turn.id, sessionID: turn.sessionID, teamID: turn.teamID) ?? turn
        }.value
    }

    /// Runs the turn after its request has been answered (202): its progress is in the event log
    /// (`turn.started`, then `turn.completed`, `turn.failed` or `turn.cancelled`) and at its URL. A node that
    /// stops meanwhile leaves it to the sweep, which fails it.
    @discardableResult
    func inBackground(_ call: Call) -> Task<Turn, any Error> {
        Task { try await self.run(call, relay: nil) }
    }

    /// Cancels every turn this node runs or waits for, and waits (a few seconds at most) until each is
    /// settled: at shutdown, before the store closes.
    func cancelAll() async {
        let cancels = running.withLock { Array($0.values) }
        for cancel in cancels { cancel() }
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline, !running.withLock({ $0.isEmpty }) { try? await Task.sleep(for: .milliseconds(20)) }
    }

    /// The turn as server-sent events: `turn.started` (with the routing decision), `message.delta` with each
    /// piece of the answer, then `turn.completed`, `turn.failed` or `turn.cancelled` with the turn as stored.
    /// The turn runs from now, whether or not the answer's body is ever written (its client may be gone).
    func stream(_ call: Call) -> Response {
        let (events, sink) = AsyncStream.makeStream(of: ByteBuffer.self, bufferingPolicy: .unbounded)
        let runner = Task {
            defer { sink.finish() }
            sink.yield(Self.event("turn.started", TurnView(call.turn)))
            let turn: Turn
            do {
                turn = try await self.run(call) { text in
                    guard case .enqueued = sink.yield(Self.event("message.delta", ["content": text])) else { throw CancellationError() }
                }
            } catch {
                // Settling it failed (the store is away): say so, with the turn as it was last read.
                var failed = call.turn
                failed.status = "failed"
                failed.error = APIError(error).message
                turn = failed
            }
            sink.yield(Self.event("turn.\(turn.status)", TurnView(turn)))
        }
        return Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
            body: ResponseBody { writer in
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

/// A turn's cancellation, which may come before its call exists (while it waits its place, or is being
/// prepared) and then cancels the call as soon as it is made.
private final class TurnControl: Sendable {
    private let state = Mutex<(cancelled: Bool, cancelCall: (@Sendable () -> Void)?)>((false, nil))

    var isCancelled: Bool { state.withLock { $0.cancelled } }

    func cancel() {
        let cancelCall = state.withLock { state in
            state.cancelled = true
            return state.cancelCall
        }
        cancelCall?()
    }

    func attach(_ cancelCall: @escaping @Sendable () -> Void) {
        let cancelled = state.withLock { state in
            state.cancelCall = cancelCall
            return state.cancelled
        }
        if cancelled { cancelCall() }
    }
}
