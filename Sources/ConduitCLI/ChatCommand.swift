import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import UnixSignals

/// `conduit chat`: a conversation with a project's agents from a terminal, through a running server's
/// session and turn API. Each line typed is a turn; the answer streams in as the model writes it, under a
/// line naming the agent that answers and why. Ctrl-C cancels the turn under way (and the provider's call);
/// at the prompt it, or Ctrl-D, ends the chat. In a pipe (`echo question | conduit chat --project P`) the
/// whole input is one turn and only the answer is written, plainly, to standard output.
struct ChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Talk to a project's agents: each line a turn, answered as it is written.",
        discussion: """
            Without --session, a session is begun in --project, or in a new project of --domain when neither is given. \
            The agent is chosen by the router unless --agent names one; "@agent text" names one for a single turn.
            """
    )

    @Option(help: "The project to talk about (a session is begun in it).")
    var project: String?

    @Option(help: "Go on with this session instead of beginning one.")
    var session: String?

    @Option(help: "The agent to ask, or auto to let the router choose.")
    var agent = "auto"

    @Option(help: "The domain of the project made when neither --project nor --session is given.")
    var domain = "base"

    @Option(help: "The server to talk to.")
    var serverURL = "http://127.0.0.1:8080"

    @Option(help: "API key (env CONDUIT_API_KEY); none for a server without authentication.")
    var apiKey: String?

    func run() async throws {
        let client = ChatClient(
            base: serverURL.hasSuffix("/") ? String(serverURL.dropLast()) : serverURL,
            key: apiKey ?? ProcessInfo.processInfo.environment["CONDUIT_API_KEY"])
        let sessionID: String
        if let session { sessionID = session } else { sessionID = try await client.beginSession(project: project, domain: domain) }
        let interactive = isatty(STDIN_FILENO) == 1 && isatty(STDOUT_FILENO) == 1
        guard interactive else {
            let input = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            guard !input.allSatisfy(\.isWhitespace) else { throw ValidationError("nothing to ask: standard input is empty") }
            let ending = try await client.turn(input, agent: agent, session: sessionID) { event in
                switch event {
                case .routed(let line): FileHandle.standardError.write(Data((line + "\n").utf8))
                case .text(let text): FileHandle.standardOutput.write(Data(text.utf8))
                }
            }
            FileHandle.standardOutput.write(Data("\n".utf8))
            guard ending == "completed" else { throw ExitCode.failure }
            return
        }
        write("session \(sessionID): each line is a turn; Ctrl-C cancels a turn, Ctrl-D ends the chat.\n")
        let interrupts = Interrupts()
        let signals = Task {
            for await _ in await UnixSignalsSequence(trapping: .sigint) { interrupts.interrupt() }
        }
        defer { signals.cancel() }
        while true {
            write("you> ")
            guard let line = readLine() else { break }
            if interrupts.takeAtPrompt() { break }
            guard !line.allSatisfy(\.isWhitespace) else { continue }
            let turn = Task {
                try await client.turn(line, agent: agent, session: sessionID) { event in
                    switch event {
                    case .routed(let line): write("\u{1B}[2m\(line)\u{1B}[0m\n")
                    case .text(let text): write(text)
                    }
                }
            }
            interrupts.whileRunning { turn.cancel() }
            do {
                let ending = try await turn.value
                write(ending == "completed" ? "\n" : "\n[\(ending)]\n")
            } catch {
                // Closing the stream cancels the turn on the server, and the provider's call with it.
                write(turn.isCancelled ? "\n[cancelled]\n" : "\n[error] \(error)\n")
            }
            interrupts.whileRunning(nil)
        }
        write("\n")
    }
}

/// Writes to standard output at once: the answer shows as it comes, not when a line ends.
private func write(_ text: String) { FileHandle.standardOutput.write(Data(text.utf8)) }

/// Ctrl-C: cancels the running turn, or, at the prompt, ends the chat.
private final class Interrupts: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelTurn: (@Sendable () -> Void)?
    private var pending = false

    func interrupt() {
        lock.lock()
        let cancel = cancelTurn
        if cancel == nil { pending = true }
        lock.unlock()
        if let cancel {
            cancel()
        } else {
            // At the prompt: readLine holds the thread, so the chat ends here.
            write("\n")
            Foundation.exit(130)
        }
    }

    func whileRunning(_ cancel: (@Sendable () -> Void)?) {
        lock.lock()
        cancelTurn = cancel
        lock.unlock()
    }

    func takeAtPrompt() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        defer { pending = false }
        return pending
    }
}

/// The session and turn API, as `conduit chat` uses it.
struct ChatClient: Sendable {
    enum Event: Sendable {
        /// Which agent answers, and why.
        case routed(String)
        case text(String)
    }

    let base: String
    let key: String?

    func beginSession(project: String?, domain: String) async throws -> String {
        var projectID = project
        if projectID == nil {
            let made = try await post("/v1/projects", ["name": "chat \(Date().ISO8601Format())", "domain": domain])
            projectID = made["id"] as? String
        }
        let session = try await post("/v1/projects/\(projectID ?? "")/sessions", ["title": "conduit chat"])
        guard let id = session["id"] as? String else { throw ValidationError("the server began no session: \(session)") }
        return id
    }

    /// Sends a turn and streams its answer to `event`; returns how it ended (`completed`, `failed`, `cancelled`).
    func turn(_ input: String, agent: String, session: String, event: @escaping @Sendable (Event) -> Void) async throws -> String {
        var request = try self.request("/v1/sessions/\(session)/turns", ["input": input, "agent": agent, "mode": "stream"])
        request.headers.add(name: "Accept", value: "text/event-stream")
        let response = try await HTTPClient.shared.execute(request, timeout: .hours(1))
        guard response.status == .ok else { throw Self.failure(response.status, try await response.body.collect(upTo: 1 << 20)) }
        var pending = ""
        var ending = "failed"
        for try await buffer in response.body {
            pending += String(buffer: buffer)
            while let end = pending.range(of: "\n\n") {
                let block = String(pending[..<end.lowerBound])
                pending.removeSubrange(..<end.upperBound)
                let name = block.split(separator: "\n").first { $0.hasPrefix("event: ") }?.dropFirst(7) ?? ""
                let data = block.split(separator: "\n").first { $0.hasPrefix("data: ") }?.dropFirst(6) ?? ""
                let object = (try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any] ?? [:]
                switch name {
                case "turn.started": event(.routed(Self.why(object)))
                case "message.delta": event(.text(object["content"] as? String ?? ""))
                case "turn.completed", "turn.failed", "turn.cancelled":
                    ending = String(name.dropFirst("turn.".count))
                    if let error = object["error"] as? String { event(.text("\n[\(error)]")) }
                default: break
                }
            }
        }
        return ending
    }

    /// "architect · semantic 0.41 (then reviewer 0.22)".
    private static func why(_ turn: [String: Any]) -> String {
        let routing = turn["routing"] as? [String: Any] ?? [:]
        let agent = turn["agent"] as? String ?? "?"
        let method = routing["method"] as? String ?? "?"
        var line = "\(agent) · \(method)"
        if method == "semantic" || method == "fallback", let confidence = routing["confidence"] as? Double {
            line += String(format: " %.2f", confidence)
            if let next = (routing["alternatives"] as? [[String: Any]])?.first, let name = next["agent"] as? String,
                let score = next["score"] as? Double
            {
                line += String(format: " (then %@ %.2f)", name, score)
            }
        }
        return line
    }

    private func post(_ path: String, _ body: [String: Any]) async throws -> [String: Any] {
        let response = try await HTTPClient.shared.execute(try request(path, body), timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        guard (200..<300).contains(Int(response.status.code)) else { throw Self.failure(response.status, bytes) }
        return (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any] ?? [:]
    }

    private func request(_ path: String, _ body: [String: Any]) throws -> HTTPClientRequest {
        var request = HTTPClientRequest(url: base + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        return request
    }

    /// The server's error, as its message says it.
    private static func failure(_ status: HTTPResponseStatus, _ body: ByteBuffer) -> ValidationError {
        let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any]
        let message = (object?["error"] as? [String: Any])?["message"] as? String ?? String(buffer: body)
        return ValidationError("the server answered \(status.code): \(message)")
    }
}
