import ConduitTestSupport
import Foundation
import SQLKit
import Store
import Testing

@testable import ConduitCore

/// The promise of the job queue, against the real server: an accepted job survives `kill -9`.
extension EndToEnd {
    @Suite("Job durability")
    struct JobDurabilityTests {
        @Test(
            "jobs accepted before a kill -9 of the server while they run all complete after a restart, each once, and none stays running; every conversation gets one insight and one event",
            arguments: Backend.allCases.filter { $0 == .sqlite || TestDatabase.postgresURL != nil })
        func killNine(backend: Backend) async throws {
            let model = try #require(TestModel.directory)
            let location = try await TestDatabase.makeLocation(backend)
            let databaseURL: String =
                switch location {
                case .sqlite(let path): path
                case .postgres(let url): url
                }
            try await Database.withMigrated(location, logger: TestDatabase.logger) { store in
                try await run(store: store, databaseURL: databaseURL, model: model)
            }
        }

        private func run(store: Database, databaseURL: String, model: URL) async throws {
            let team = try await store.teams.create(name: "t")
            let key = try await store.keys.create(name: "k", teamID: team.id, scopes: [.jobs, .insights]).secret

            let folder = FileManager.default.temporaryDirectory.appending(path: "conduit-durability-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let config = folder.appending(path: "conduit.yaml")
            // A short lease: the killed node's jobs are rescued a second after it stops renewing them.
            try "jobs:\n  queues: [embeddings=2, insights=2]\n  lease_seconds: 1\n".write(to: config, atomically: true, encoding: .utf8)
            let port = try await LiveServer.freePorts(1)[0]
            let arguments = [
                "serve", "--auth", "--port", "\(port)", "--config", config.path, "--database-url", databaseURL, "--model-dir", model.path,
                "--data-dir", folder.path, "--log-level", "warning",
            ]

            var server = try LiveServer.start(arguments)
            try #require(await LiveServer.isReady(port: port))
            let texts = (0..<300).map { "a text of the durability test, number \($0)" }
            let body = String(
                decoding: try JSONSerialization.data(withJSONObject: ["kind": "embeddings", "input": ["input": texts]]), as: UTF8.self)
            // Conversations first, so that their analyses run alongside the embedding jobs when the server is killed.
            let conversations = (0..<40).map { index in
                [
                    "messages": [
                        [
                            "role": "user",
                            "content":
                                "Order \(index) arrived damaged and the box was open. I want a replacement or my money back, this is the \(index)th time.",
                        ]
                    ]
                ]
            }
            let submitted = try await RawHTTP.exchange(
                port: port,
                send: RawHTTP.request(
                    "POST", "/v1/conversations", headers: ["Authorization": "Bearer \(key)"],
                    body: String(decoding: try JSONSerialization.data(withJSONObject: ["conversations": conversations]), as: UTF8.self)),
                wait: .seconds(10))
            #expect(submitted.bytes.hasPrefix("HTTP/1.1 202"), "\(submitted.bytes.prefix(200))")
            let submittedJSON = submitted.bytes.split(separator: "\r\n\r\n", maxSplits: 1).last.map(String.init) ?? ""
            let conversationJobs = try #require(
                (try JSONSerialization.jsonObject(with: Data(submittedJSON.utf8)) as? [String: Any])?["job_ids"] as? [String])
            var accepted: [String] = []
            for _ in 0..<6 {
                let answer = try await RawHTTP.exchange(
                    port: port, send: RawHTTP.request("POST", "/v1/jobs", headers: ["Authorization": "Bearer \(key)"], body: body),
                    wait: .seconds(10))
                #expect(answer.bytes.hasPrefix("HTTP/1.1 202"))
                let json = answer.bytes.split(separator: "\r\n\r\n", maxSplits: 1).last.map(String.init) ?? ""
                accepted.append(try #require((try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])?["id"] as? String))
            }
            // Killed while jobs run: no shutdown, no release, leases left to run out.
            let deadline = ContinuousClock.now + .seconds(60)
            var running: [String] = []
            try await eventually(within: .seconds(60)) {
                running = try await store.jobs.list(teamID: team.id, state: .running, limit: 10).map(\.id)
                return !running.isEmpty
            }
            try #require(!running.isEmpty, "no job started")
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()

            server = try LiveServer.start(arguments)
            defer {
                server.terminate()
                server.waitUntilExit()
            }
            try #require(await LiveServer.isReady(port: port))
            /// The jobs, once all completed or `until` has passed.
            func settled(_ ids: [String], until: ContinuousClock.Instant) async throws -> [Job] {
                var jobs: [Job] = []
                try await eventually(within: until - ContinuousClock.now, every: .milliseconds(200)) {
                    jobs = try await ids.asyncMap { try #require(try await store.jobs.find($0)) }
                    return jobs.allSatisfy { $0.state == .completed }
                }
                return jobs
            }
            let jobs = try await settled(accepted, until: deadline + .seconds(60))
            #expect(jobs.count == 6 && jobs.allSatisfy { $0.state == .completed }, "\(jobs.map(\.state))")
            for job in jobs {
                #expect(try await store.jobs.output(job.id, teamID: team.id)?.count == texts.count * 384 * 4)
            }
            let analyses = try await settled(conversationJobs, until: deadline + .seconds(90))
            #expect(analyses.count == 40 && analyses.allSatisfy { $0.state == .completed }, "\(analyses.map(\.state))")
            // The ledger: one insight per conversation, and one event per insight, however often a job ran.
            let insights = try await store.insights.list(teamID: team.id, limit: 100)
            #expect(insights.count == 40 && Set(insights.map(\.conversationID)).count == 40)
            #expect(try await store.events.list(teamID: team.id, filter: EventFilter(types: ["insight.created"]), limit: 1000).count == 40)
            let interrupted = jobs.filter { running.contains($0.id) }
            // A job seen running may still have finished in the moment before the kill; the others were rescued.
            #expect(interrupted.contains { $0.attempt >= 2 && $0.errors.first?.message.contains("lease expired") == true })
            #expect(try await store.jobs.list(teamID: team.id, state: .running, limit: 10).isEmpty)
            // Billed what was delivered, once: the killed attempts' tokens are not in the usage report.
            let delivered = jobs.compactMap { job in
                job.result.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }?["prompt_tokens"] as? Int
            }.reduce(0, +)
            let billedJobs = try await store.read { sql in
                try await sql.raw(
                    "SELECT CAST(SUM(tokens) AS BIGINT) AS n FROM usage_events WHERE route = '/v1/jobs' AND team_id = \(bind: team.id)"
                )
                .first()?.decode(column: "n", as: Int64?.self) ?? 0
            }
            #expect(billedJobs == Int64(delivered), "billed \(billedJobs) tokens for \(delivered) delivered")
        }
    }
}

extension Sequence {
    fileprivate func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
