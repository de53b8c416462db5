import ConduitTestSupport
import Foundation
import NIOCore
import NIOPosix
import SQLKit
import Store
import Testing

@testable import Conduit
@testable import ConduitCore
@testable import ConduitEmbeddings

/// The `conduit` executable itself, built beside the tests.
extension EndToEnd {
    @Suite("Command line")
    struct CommandLineTests {
        func run(_ arguments: [String], input: String? = nil) throws -> (status: Int32, output: String, error: String) {
            let process = Process()
            guard let executable = LiveServer.executable else {
                throw SetupError("conduit is built beside the test bundle by `swift build --build-tests`")
            }
            process.executableURL = executable
            process.arguments = arguments
            let output = Pipe()
            let error = Pipe()
            let stdin = Pipe()
            process.standardOutput = output
            process.standardError = error
            process.standardInput = stdin
            try process.run()
            if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
            try stdin.fileHandleForWriting.close()
            let out = output.fileHandleForReading.readDataToEndOfFile()
            let err = error.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
        }

        @Test(
            "each option of conduit serve shows its setting's help, key and default, and conduit config keys prints docs/configuration.md")
        func optionsFromSettings() throws {
            let help = try run(["serve", "--help"])
            #expect(help.status == 0, "\(help.error)")
            let text = help.output.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            for key in ["server.port", "scheduler.max_batch_tokens", "limits.max_inputs", "model.truncate", "logging.format"] {
                let setting = try #require(ServerSetting.named(key))
                #expect(text.contains("(\(key); default \(setting.defaultValue ?? "")"), "\(key)")
            }
            let keys = try run(["config", "keys"])
            #expect(keys.status == 0 && keys.output == ConfigurationDocument.text)
        }

        @Test(
            "conduit bench store measures jobs, admissions and usage writes on a store, and conduit bench alone is still the embeddings bench"
        )
        func storeBench() throws {
            let folder = FileManager.default.temporaryDirectory.appending(path: "bench-store-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: folder) }
            let bench = try run(["bench", "store", "--data-dir", folder.path, "--clients", "1", "2", "--duration", "0.2"])
            #expect(bench.status == 0, "\(bench.error)")
            for workload in ["jobs", "limits, one key", "limits, a key each", "usage, 100 a batch"] {
                for clients in [1, 2] {
                    let row = bench.output.split(separator: "\n").first { $0.hasPrefix("| \(workload) | \(clients) |") }
                    #expect(
                        row.map { $0.hasSuffix("| 0 |") && !$0.contains("| 0 | 0 |") } == true,
                        "\(workload) at \(clients): \(row ?? "missing")"
                    )
                }
            }
            // Without a subcommand, the embeddings bench: here it stops at the missing corpus, naming what makes it.
            let embeddings = try run(["bench", "--no-http", "--corpus-dir", folder.appending(path: "none").path])
            #expect(embeddings.status != 0 && embeddings.error.contains("make_corpus.py"), "\(embeddings.error)")
        }

        @Test(
            "two server processes sharing one PostgreSQL hold a key to its limit together, and record every request's usage by the time they exit",
            .enabled(if: TestDatabase.postgresURL != nil, "needs the PostgreSQL server scripts/test starts"),
            .timeLimit(.minutes(2)))
        func twoProcesses() async throws {
            let location = try await TestDatabase.makeLocation(.postgres)
            guard case .postgres(let url) = location else { return }
            let store = try await Database.open(location, logger: TestDatabase.logger)
            let secret: String
            do {
                try await store.migrate()
                let team = try await store.teams.create(name: "shared")
                let issued = try await store.keys.create(name: "k", teamID: team.id, scopes: [.embeddings])
                try await store.keys.setLimits(Limits(requestsPerMinute: 20), forKey: issued.key.id)
                secret = issued.secret
            } catch {
                await store.close()
                throw error
            }
            await store.close()

            let model = try #require(TestModel.directory)
            let data = FileManager.default.temporaryDirectory.appending(path: "conduit-nodes-\(UUID().uuidString)").path
            let ports = try await LiveServer.freePorts(2)
            let servers = try ports.map { port in
                try LiveServer.start([
                    "serve", "--auth", "--port", "\(port)", "--database-url", url, "--model-dir", model.path, "--data-dir", data,
                    "--log-level",
                    "warning",
                ])
            }
            defer {
                for server in servers where server.isRunning {
                    server.terminate()
                    server.waitUntilExit()
                }
            }
            for port in ports {
                try #require(await LiveServer.isReady(port: port), "server on port \(port) did not become ready")
            }
            let request = RawHTTP.request(
                "POST", "/v1/embeddings", headers: ["Authorization": "Bearer \(secret)"], body: #"{"input":"shared"}"#)
            let answers = try await withThrowingTaskGroup(of: String.self) { group in
                for index in 0..<60 {
                    let port = ports[index % 2]
                    group.addTask { try await RawHTTP.exchange(port: port, send: request, wait: .seconds(30)).bytes }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            let admitted = answers.filter { $0.hasPrefix("HTTP/1.1 200") }.count
            let refused = answers.filter { $0.hasPrefix("HTTP/1.1 429") }.count
            #expect((18...22).contains(admitted), "admitted \(admitted) of 60 against a limit of 20")
            #expect(admitted + refused == 60)

            // SIGTERM at once, before the usage recorder's next periodic write: the last events are
            // written on the way out, before the store closes.
            for server in servers {
                server.terminate()
                server.waitUntilExit()
                #expect(server.terminationStatus == 0)
            }
            let recorded = try await Database.withMigrated(location, logger: TestDatabase.logger) { store in
                try await store.read { try await $0.raw("SELECT id FROM usage_events").all().count }
            }
            #expect(recorded == 60, "usage events written: \(recorded) of 60")
        }

        @Test("serve reads --config, exits 78 listing every problem of an invalid one, and reloads on SIGHUP")
        func configurationFileAndSIGHUP() async throws {
            let model = try #require(TestModel.directory)
            let folder = FileManager.default.temporaryDirectory.appending(path: "conduit-config-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let config = folder.appending(path: "conduit.yaml").path
            try "server:\n  port: not-a-port\nlimits:\n  max_inputs: 0\n".write(toFile: config, atomically: true, encoding: .utf8)
            let refused = try run(["serve", "--config", config, "--model-dir", model.path, "--data-dir", folder.path])
            #expect(refused.status == 78)
            #expect(refused.error.contains("server.port 'not-a-port' is not allowed") && refused.error.contains("limits.max_inputs '0'"))

            let port = try await LiveServer.freePorts(1)[0]
            try "server:\n  port: \(port)\nlogging:\n  level: notice\n".write(toFile: config, atomically: true, encoding: .utf8)
            let log = folder.appending(path: "log.jsonl")
            let process = try LiveServer.start(
                ["serve", "--config", config, "--model-dir", model.path, "--data-dir", folder.path], log: log)
            defer {
                process.terminate()
                process.waitUntilExit()
            }
            try #require(await LiveServer.isReady(port: port), "the server did not become ready on the port its configuration file names")
            kill(process.processIdentifier, SIGHUP)
            let reloaded = try await eventually(within: .seconds(10), every: .milliseconds(50)) {
                (try String(contentsOf: log, encoding: .utf8)).contains(#""cause":"SIGHUP""#)
            }
            #expect(reloaded, "no reload logged after SIGHUP")
            #expect(process.isRunning, "SIGHUP must not stop the server")
        }

        @Test("keys create prints the key alone on its last line; it works against the same database; bad input exits non-zero")
        func keys() async throws {
            let folder = FileManager.default.temporaryDirectory.appending(path: "conduit-cli-\(UUID().uuidString)").path
            let created = try run(["keys", "create", "--name", "ci", "--data-dir", folder])
            #expect(created.status == 0)
            let secret = try #require(created.output.split(separator: "\n").last.map(String.init))
            #expect(APIKeySecret.isWellFormed(secret) && secret.hasPrefix("cdt_"))
            #expect(!created.error.contains(secret))

            let store = try await Database.open(.defaultSQLite(in: URL(filePath: folder)), logger: TestDatabase.logger)
            let key = try await store.keys.find(secret: secret)
            await store.close()
            #expect(key?.name == "ci" && key?.scopes == Scope.defaultScopes)

            let listed = try run(["keys", "list", "--data-dir", folder])
            #expect(listed.status == 0 && listed.output.contains(String(secret.prefix(12))) && !listed.output.contains(secret))
            #expect(try run(["keys", "create", "--name", "x", "--scope", "root", "--data-dir", folder]).status != 0)
            // The admin API's rules: a name past 200 characters is refused here too.
            let long = try run(["keys", "create", "--name", String(repeating: "n", count: 201), "--data-dir", folder])
            #expect(long.status != 0 && long.error.contains("name must be 1 to 200 characters"), "\(long.error)")
            #expect(try run(["keys", "revoke", "no-such-id", "--data-dir", folder]).status != 0)

            let user = try run(
                ["users", "create", "--email", "a@b.io", "--team", "default", "--data-dir", folder], input: "a-good-password\n")
            #expect(user.status == 0, "\(user.error)")
            // The same email in a second team: set-role and delete then need the team.
            #expect(try run(["teams", "create", "second", "--data-dir", folder]).status == 0)
            let twin = try run(
                ["users", "create", "--email", "a@b.io", "--team", "second", "--data-dir", folder], input: "a-good-password\n")
            #expect(twin.status == 0, "\(twin.error)")
            let unnamed = try run(["users", "set-role", "--email", "a@b.io", "--role", "admin", "--data-dir", folder])
            #expect(unnamed.status != 0 && unnamed.error.contains("name one with --team"), "\(unnamed.error)")
            let named = try run(["users", "set-role", "--email", "a@b.io", "--team", "second", "--role", "admin", "--data-dir", folder])
            #expect(named.status == 0 && named.output.contains("is now admin"), "\(named.error)")
            #expect(try run(["users", "delete", "--email", "a@b.io", "--team", "default", "--data-dir", folder]).status == 0)
            #expect(try run(["users", "delete", "--email", "a@b.io", "--data-dir", folder]).output.contains("deleted a@b.io"))
            #expect(try run(["migrate", "--data-dir", folder]).output.contains("schema already at version"))
        }

        @Test("jobs list, show, cancel, retry and watch act on the store the server uses; watch exits 0 only for a completed job")
        func jobs() async throws {
            let folder = FileManager.default.temporaryDirectory.appending(path: "conduit-jobs-\(UUID().uuidString)")
            let (waiting, done) = try await Database.withMigrated(.defaultSQLite(in: folder), logger: TestDatabase.logger) { store in
                let team = try await store.teams.create(name: "t")
                let waiting = try await store.jobs.enqueue(
                    NewJob(kind: "embeddings", queue: "embeddings", input: #"{"input":["a"]}"#), teamID: team.id
                ).job
                let done = try await store.jobs.enqueue(NewJob(kind: "embeddings", queue: "other", input: "{}"), teamID: team.id).job
                _ = try await store.jobs.claim(queue: "other", limit: 1, node: "n", lease: 60_000)
                #expect(try await store.jobs.complete(done.id, node: "n", result: #"{"count":1}"#, progress: (1, 1)))
                return (waiting, done)
            }
            let listed = try run(["jobs", "list", "--data-dir", folder.path])
            #expect(
                listed.status == 0 && listed.output.contains(waiting.id) && listed.output.contains("available")
                    && listed.output.contains("1/1")
            )
            let shown = try run(["jobs", "show", done.id, "--data-dir", folder.path])
            let json = try JSONSerialization.jsonObject(with: Data(shown.output.utf8)) as? [String: Any]
            #expect(json?["state"] as? String == "completed" && (json?["result"] as? [String: Any])?["count"] as? Int == 1)
            #expect(try run(["jobs", "watch", done.id, "--data-dir", folder.path]).status == 0)
            #expect(try run(["jobs", "cancel", waiting.id, "--data-dir", folder.path]).output.contains("cancelled"))
            #expect(try run(["jobs", "watch", waiting.id, "--data-dir", folder.path]).status != 0, "cancelled, not completed")
            #expect(try run(["jobs", "cancel", done.id, "--data-dir", folder.path]).status != 0, "a completed job cannot be cancelled")
            #expect(try run(["jobs", "retry", waiting.id, "--data-dir", folder.path]).output.contains("available"))
            #expect(try run(["jobs", "show", "no-such-job", "--data-dir", folder.path]).error.contains("no job 'no-such-job'"))
            #expect(try run(["jobs", "list", "--state", "bogus", "--data-dir", folder.path]).status != 0)
        }
    }
}
