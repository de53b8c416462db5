import AsyncHTTPClient
import ConduitTestSupport
import Foundation
import HummingbirdTesting
import NIOCore
import NIOFoundationCompat
import SQLKit
import Testing

@testable import Store

/// The live channels from a real browser: headless Chromium (Debian's package, installed by scripts/test)
/// opens a page that takes tickets and subscribes over a WebSocket and an EventSource, as a web app would.
extension EndToEnd {
    @Suite("Browser")
    struct BrowserTests {
        static let chromium = "/usr/bin/chromium"

        /// The page: two tickets (a browser cannot send Authorization on either channel), then the team's events
        /// over both; it closes both once each has an event, so that the headless browser sees it idle and writes it out.
        private static func page(port: Int, key: String) -> String {
            """
            <html><body><script>
            const base = "http://127.0.0.1:\(port)", key = "\(key)", result = {ws: [], sse: [], errors: []};
            async function ticket() {
              const answer = await fetch(base + "/v1/ws/tickets", {method: "POST", headers: {Authorization: "Bearer " + key}});
              return (await answer.json()).ticket;
            }
            window.done = new Promise(async (resolve) => {
              let socket, stream;
              const settle = () => { if (result.ws.length > 0 && result.sse.length > 0) { socket.close(); stream.close(); resolve(JSON.stringify(result)); } };
              try {
                socket = new WebSocket("ws://127.0.0.1:\(port)/v1/ws?ticket=" + await ticket());
                socket.onopen = () => socket.send(JSON.stringify({type: "subscribe", id: "jobs", types: ["job.completed"]}));
                socket.onmessage = (m) => { const message = JSON.parse(m.data); if (message.type === "event") { result.ws.push(message.event.resource); settle(); } };
                socket.onerror = () => result.errors.push("ws");
                stream = new EventSource(base + "/v1/events/stream?ticket=" + await ticket());
                stream.addEventListener("job.completed", (e) => { result.sse.push(JSON.parse(e.data).resource); settle(); });
                stream.onerror = () => result.errors.push("sse");
              } catch (error) { result.errors.push(String(error)); resolve(JSON.stringify(result)); }
            });
            </script></body></html>
            """
        }

        @Test("headless Chromium takes tickets and receives the team's events over a WebSocket and an EventSource")
        func chromiumSubscribes() async throws {
            try #require(
                FileManager.default.isExecutableFile(atPath: Self.chromium), "run the tests with scripts/test, which installs chromium")
            try await TestDatabase.withTeam(.sqlite) { store, team in
                let key = try await store.keys.create(name: "browser", teamID: team.id, scopes: [.jobs]).secret
                let job = try await EventsAPITests.completeJobs(1, store: store, team: team)[0]
                let app = try TestServer.authenticatedApplication(store: store)
                try await app.test(.live) { client in
                    let folder = FileManager.default.temporaryDirectory.appending(path: "conduit-browser-\(UUID().uuidString)")
                    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                    defer { try? FileManager.default.removeItem(at: folder) }
                    let page = folder.appending(path: "page.html")
                    try Self.page(port: try #require(client.port), key: key).write(to: page, atomically: true, encoding: .utf8)
                    // Driven over the DevTools protocol, in real time: the page's promise gives its result.
                    let debugging = Int.random(in: 20_000...40_000)
                    let process = Process()
                    process.executableURL = URL(filePath: Self.chromium)
                    process.arguments = [
                        "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(folder.path)/profile",
                        // The page is a file and the server another origin: this test page, not the server, is what needs leave.
                        "--disable-web-security", "--remote-debugging-port=\(debugging)", "--remote-allow-origins=*", page.absoluteString,
                    ]
                    process.standardOutput = FileHandle.nullDevice
                    process.standardError = FileHandle.nullDevice
                    try process.run()
                    defer { process.terminate() }
                    let target = try await eventually(within: .seconds(30), every: .milliseconds(200)) { () -> String? in
                        let targets = await Self.devtools(debugging, "/json/list") as? [[String: Any]] ?? []
                        return targets.first { $0["type"] as? String == "page" }?["webSocketDebuggerUrl"] as? String
                    }
                    let path = try #require(target.flatMap { URL(string: $0) }?.path)
                    // Closed through the protocol when done: the browser's helper processes go with it, as a signal would not take them.
                    let browser = try #require(
                        (await Self.devtools(debugging, "/json/version") as? [String: Any])?["webSocketDebuggerUrl"] as? String)

                    let devtools = try await TestSocket(port: debugging, path: path)
                    try devtools.send([
                        "id": 1, "method": "Runtime.evaluate",
                        // The page may not have run its script yet when its target is listed: wait for its promise to exist.
                        "params": [
                            "expression":
                                "new Promise(r => { const wait = () => window.done ? window.done.then(r) : setTimeout(wait, 50); wait(); })",
                            "awaitPromise": true, "returnByValue": true,
                        ],
                    ])
                    var answer: [String: Any]?
                    while answer == nil, let message = await devtools.next(within: .seconds(30)) {
                        if message["id"] as? Int == 1 { answer = message }
                    }
                    devtools.close()
                    let control = try await TestSocket(port: debugging, path: URL(string: browser)?.path ?? "")
                    try control.send(["id": 1, "method": "Browser.close"])
                    _ = await control.next(within: .seconds(5))
                    #expect(try await eventually(within: .seconds(10), every: .milliseconds(100)) { !process.isRunning })
                    let value = ((answer?["result"] as? [String: Any])?["result"] as? [String: Any])?["value"] as? String
                    let out = try #require(value, "\(answer ?? [:])")
                    let result = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: [String]])
                    #expect(result["ws"] == ["job:\(job)"], "\(out)")
                    #expect(result["sse"] == ["job:\(job)"], "\(out)")
                    #expect(result["errors"]?.filter { $0 != "timed out" } == [])
                    // Each ticket opened its channel once: both are spent.
                    let unspent = try await store.read { sql in
                        try await sql.raw("SELECT COUNT(*) AS n FROM ws_tickets WHERE used_at IS NULL").first()?.decode(
                            column: "n", as: Int.self)
                    }
                    #expect(unspent == 0)
                }
            }
        }

        /// What the browser's DevTools HTTP endpoint answers at `path`, as JSON; nil until it is up.
        private static func devtools(_ port: Int, _ path: String) async -> Any? {
            let response = try? await HTTPClient.shared.execute(
                HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)"), timeout: .seconds(2))
            let body = try? await response?.body.collect(upTo: 1 << 20)
            return body.flatMap { try? JSONSerialization.jsonObject(with: Data(buffer: $0)) }
        }
    }
}
