import AsyncHTTPClient
import ConduitTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Conduit

extension EndToEnd {
    /// `conduit chat` against a server (its own process) whose agents' model a fake provider plays.
    @Suite("conduit chat")
    struct ChatCommandTests {
        /// Drives `conduit chat` in a pseudo terminal as a person would: a turn answered, a second turn
        /// interrupted with Ctrl-C, then Ctrl-D. Prints what the terminal showed, step by step.
        static let terminal = #"""
            import os, pty, sys, time, select
            pid, fd = pty.fork()
            if pid == 0:
                os.execv(sys.argv[1], sys.argv[1:])
            def read_until(token, timeout=30):
                seen = b""; end = time.time() + timeout
                while time.time() < end:
                    ready, _, _ = select.select([fd], [], [], 0.1)
                    if ready:
                        try: seen += os.read(fd, 4096)
                        except OSError: break
                        if token.encode() in seen: break
                return seen.decode(errors="replace")
            print("STEP start", read_until("you> "), flush=True)
            os.write(fd, b"@architect outline the services\r")
            print("STEP answered", read_until("you> "), flush=True)
            os.write(fd, b"@architect and everything else\r")
            print("STEP streaming", read_until("architect"), flush=True)
            time.sleep(0.5)
            os.write(fd, b"\x03")
            print("STEP interrupted", read_until("you> "), flush=True)
            os.write(fd, b"\x04")
            read_until("never", timeout=5)
            _, status = os.waitpid(pid, 0)
            print("STEP exit", os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1, flush=True)
            """#

        @Test(
            "in a pipe the whole input is one turn and only the answer is written; in a terminal each line is a turn, the answer streams under the agent and why, Ctrl-C cancels the turn (stored cancelled) and Ctrl-D ends the chat"
        )
        func chat() async throws {
            guard let executable = LiveServer.executable else { throw SetupError("conduit is built beside the test bundle") }
            let model = try #require(TestModel.directory)
            let provider = FakeProvider()
            provider.script("a", [.answer("piped answer"), .answer("terminal answer"), .endless])
            try await provider.application().test(.live) { providerClient in
                let folder = FileManager.default.temporaryDirectory.appending(path: "conduit-chat-\(UUID().uuidString)")
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(at: folder) }
                let models = folder.appending(path: "models.yaml")
                try """
                models:
                  - name: assistant
                    deployments:
                      - name: a
                        base_url: http://127.0.0.1:\(try #require(providerClient.port))/a/v1
                        model: upstream-a
                """.write(to: models, atomically: true, encoding: .utf8)
                let port = try await LiveServer.freePorts(1)[0]
                let server = try LiveServer.start(
                    ["serve", "--port", "\(port)", "--model-dir", model.path, "--data-dir", folder.path, "--log-level", "warning"],
                    environment: [
                        "CONDUIT_AGENTS_DIR": AgentLibraryTests.deploy.appending(path: "agents").path,
                        "CONDUIT_AGENTS_DOMAINS_DIR": AgentLibraryTests.deploy.appending(path: "domains").path,
                        "CONDUIT_CHAT_MODELS_FILE": models.path,
                    ])
                defer {
                    server.terminate()
                    server.waitUntilExit()
                }
                try #require(await LiveServer.isReady(port: port))
                let url = "http://127.0.0.1:\(port)"

                let piped = try Self.run(executable, ["chat", "--server-url", url], input: "Which tables do we need for orders?")
                #expect(piped.status == 0, "\(piped.error)")
                #expect(piped.output == "piped answer \n", "only the answer: \(piped.output)")
                #expect(piped.error.contains(" · "), "which agent answered, and why, on standard error: \(piped.error)")

                let script = folder.appending(path: "terminal.py")
                try Self.terminal.write(to: script, atomically: true, encoding: .utf8)
                let driven = try Self.run(
                    "/usr/bin/env", ["python3", script.path, executable.path, "chat", "--server-url", url], input: "")
                let steps = Dictionary(
                    driven.output.components(separatedBy: "STEP ").dropFirst().map { step in
                        (String(step.prefix { $0 != " " }), String(step.drop { $0 != " " }))
                    }
                ) { first, _ in first }
                let start = try #require(steps["start"], "\(driven.output) \(driven.error)")
                #expect(start.contains("each line is a turn"))
                let sessionID = try #require(start.split(separator: " ").dropFirst().first.map { String($0.dropLast()) })
                #expect(steps["answered"]?.contains("architect · explicit") == true, "\(steps["answered"] ?? "")")
                #expect(steps["answered"]?.contains("terminal answer") == true)
                #expect(steps["interrupted"]?.contains("[cancelled]") == true, "\(steps["interrupted"] ?? "")")
                #expect(steps["exit"]?.trimmingCharacters(in: .whitespacesAndNewlines) == "0")

                // The server hears of the closed stream at its next write: the turn is settled soon after, not at once.
                var turns: [[String: Any]] = []
                try await eventually(within: .seconds(20), every: .milliseconds(100)) {
                    let response = try await HTTPClient.shared.execute(
                        HTTPClientRequest(url: "\(url)/v1/sessions/\(sessionID)/turns"), timeout: .seconds(10))
                    let body = try await response.body.collect(upTo: 1 << 20)
                    turns =
                        (try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any])?["data"]
                        as? [[String: Any]]
                        ?? []
                    return turns.last?["status"] as? String != "running"
                }
                #expect(turns.map { $0["status"] as? String } == ["completed", "cancelled"], "\(turns)")
            }
        }

        static func run(_ executable: URL, _ arguments: [String], input: String) throws -> (status: Int32, output: String, error: String) {
            try run(executable.path, arguments, input: input)
        }

        static func run(_ path: String, _ arguments: [String], input: String) throws -> (status: Int32, output: String, error: String) {
            let process = Process()
            process.executableURL = URL(filePath: path)
            process.arguments = arguments
            let (output, error, stdin) = (Pipe(), Pipe(), Pipe())
            process.standardOutput = output
            process.standardError = error
            process.standardInput = stdin
            try process.run()
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try stdin.fileHandleForWriting.close()
            let out = output.fileHandleForReading.readDataToEndOfFile()
            let err = error.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
        }
    }
}
