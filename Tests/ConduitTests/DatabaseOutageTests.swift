import ConduitTestSupport
import Foundation
import Store
import Testing

/// The store, and the server, while their PostgreSQL server hangs or restarts (a server of the suite's
/// own): quick 503s, quick recovery, and a shutdown that does not wait for the database. End-to-end
/// for their real timeouts.
extension EndToEnd {
    @Suite("Database outage")
    struct DatabaseOutageTests {
        static func isUnavailable(_ error: any Error) -> Bool {
            if case .unavailable? = error as? StoreError { return true }
            return false
        }

        /// Whether a read is answered now.
        static func answers(_ store: Database) async -> Bool {
            do {
                _ = try await store.teams.find(id: "none")
                return true
            } catch {
                return false
            }
        }

        /// Waits for the store to answer again; how long that took.
        static func recovery(_ store: Database) async throws -> Duration {
            let started = ContinuousClock.now
            try await eventually(within: .seconds(30), every: .milliseconds(25)) { await answers(store) }
            return .now - started
        }

        @Test(
            "a hung server: a call gives up with `unavailable` within seconds instead of waiting for good, later calls fail at once, and service resumes within 2 s of the server's return"
        )
        func hungServer() async throws {
            try await PrivatePostgres.with { server in
                try await Database.withMigrated(
                    .postgres(url: server.url), passwordCost: 4, callTimeout: .seconds(8), logger: TestDatabase.logger
                ) { store in
                    let team = try await store.teams.create(name: "before")
                    try server.pause()
                    let started = ContinuousClock.now
                    await #expect(performing: { try await store.teams.find(id: team.id) }, throws: Self.isUnavailable)
                    let firstFailure = ContinuousClock.now - started
                    // A probe after a second of waiting, given three to answer: before the 8 s deadline.
                    #expect(firstFailure < .seconds(6), "\(firstFailure)")
                    let known = ContinuousClock.now
                    await #expect(performing: { try await store.teams.create(name: "during") }, throws: Self.isUnavailable)
                    #expect(ContinuousClock.now - known < .milliseconds(300), "while the outage is known, calls fail at once")

                    try server.resume()
                    let recovered = try await Self.recovery(store)
                    #expect(recovered < .seconds(2), "\(recovered)")
                    #expect(try await store.teams.find(id: team.id)?.name == "before")
                    _ = try await store.teams.create(name: "after")
                }
            }
        }

        @Test("a server restarted (fast shutdown): calls fail with `unavailable` while it is down, and succeed within 2 s of its return")
        func restartedServer() async throws {
            try await PrivatePostgres.with { server in
                try await Database.withMigrated(.postgres(url: server.url), passwordCost: 4, logger: TestDatabase.logger) { store in
                    _ = try await store.teams.create(name: "before")
                    try server.down()
                    let started = ContinuousClock.now
                    await #expect(performing: { try await store.teams.create(name: "during") }, throws: Self.isUnavailable)
                    #expect(ContinuousClock.now - started < .seconds(3), "\(ContinuousClock.now - started)")
                    // Down for longer than the pool's own reconnection backoff would forgive.
                    try await Task.sleep(for: .seconds(5))
                    await #expect(performing: { try await store.teams.find(id: "none") }, throws: Self.isUnavailable)

                    try server.up()
                    let recovered = try await Self.recovery(store)
                    #expect(recovered < .seconds(2), "\(recovered)")
                    _ = try await store.teams.create(name: "after")
                }
            }
        }

        @Test("a call whose caller is cancelled ends at once, even on a hung server")
        func cancelledCall() async throws {
            try await PrivatePostgres.with { server in
                try await Database.withMigrated(.postgres(url: server.url), passwordCost: 4, logger: TestDatabase.logger) { store in
                    try server.pause()
                    defer { try? server.resume() }
                    let call = Task { try await store.teams.find(id: "none") }
                    try await Task.sleep(for: .milliseconds(300))
                    let cancelled = ContinuousClock.now
                    call.cancel()
                    await #expect(throws: CancellationError.self) { try await call.value }
                    #expect(ContinuousClock.now - cancelled < .seconds(1))
                }
            }
        }

        @Test(
            "while the database hangs, requests get 503 database_unavailable with Retry-After within seconds; service resumes within 2 s of its return; SIGTERM stops the server promptly even while it hangs"
        )
        func hungDatabase() async throws {
            let model = try #require(TestModel.directory)
            try await PrivatePostgres.with { database in
                let key = try await Database.withMigrated(.postgres(url: database.url), passwordCost: 4, logger: TestDatabase.logger) {
                    store in
                    let team = try await store.teams.create(name: "t")
                    return try await store.keys.create(name: "k", teamID: team.id, scopes: [.jobs]).secret
                }
                let folder = FileManager.default.temporaryDirectory.appending(path: "conduit-outage-\(UUID().uuidString)")
                let port = try await LiveServer.freePorts(1)[0]
                let server = try LiveServer.start([
                    "serve", "--auth", "--port", "\(port)", "--database-url", database.url, "--model-dir", model.path,
                    "--data-dir", folder.path, "--log-level", "critical",
                ])
                defer {
                    try? database.resume()
                    if server.isRunning {
                        kill(server.processIdentifier, SIGKILL)
                        server.waitUntilExit()
                    }
                }
                try #require(await LiveServer.isReady(port: port))
                func listJobs() async throws -> String {
                    try await RawHTTP.exchange(
                        port: port, send: RawHTTP.request("GET", "/v1/jobs", headers: ["Authorization": "Bearer \(key)"]),
                        wait: .seconds(30)
                    ).bytes
                }
                #expect(try await listJobs().hasPrefix("HTTP/1.1 200"))

                try database.pause()
                let paused = ContinuousClock.now
                let refused = try await listJobs()
                #expect(ContinuousClock.now - paused < .seconds(7), "\(ContinuousClock.now - paused)")
                #expect(refused.hasPrefix("HTTP/1.1 503") && refused.contains(#""code":"database_unavailable""#), "\(refused.prefix(400))")
                #expect(RawHTTP.header("Retry-After", in: refused) != nil)

                try database.resume()
                let resumed = ContinuousClock.now
                let back = try await eventually(within: .seconds(30), every: .milliseconds(50)) {
                    try await listJobs().hasPrefix("HTTP/1.1 200")
                }
                #expect(back && ContinuousClock.now - resumed < .seconds(2), "\(ContinuousClock.now - resumed)")

                try database.pause()
                try await eventually(within: .seconds(10), every: .milliseconds(100)) { try await listJobs().hasPrefix("HTTP/1.1 503") }
                let terminated = ContinuousClock.now
                server.terminate()
                let stopped = try await eventually(within: .seconds(40), every: .milliseconds(100)) { !server.isRunning }
                #expect(stopped && ContinuousClock.now - terminated < .seconds(10), "\(ContinuousClock.now - terminated)")
            }
        }
    }
}
