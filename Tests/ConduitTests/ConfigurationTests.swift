import Conduit
import ConduitTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import ModelRuntime
import NIOCore
import Testing

@testable import ConduitCore
@testable import ConduitEmbeddings
@testable import ConduitInsights
@testable import Store

/// conduit.yaml, the environment and the command line; validation; `config check`; reload.
extension EndToEnd {
    @Suite("Configuration")
    final class ConfigurationTests {
        /// The test's files, removed with it.
        private let folder = FileManager.default.temporaryDirectory.appending(path: "conduit-configuration-\(UUID().uuidString)")

        deinit { try? FileManager.default.removeItem(at: folder) }

        private func file(_ text: String) throws -> String {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let path = folder.appending(path: "\(UUID().uuidString).yaml").path
            try text.write(toFile: path, atomically: false, encoding: .utf8)
            return path
        }

        private func problems(_ source: ConfigurationSource) async -> [String] {
            do {
                _ = try await source.load()
                return []
            } catch {
                return (error as? ConfigurationProblems)?.problems ?? ["\(error)"]
            }
        }

        @Test("the command line wins over the environment, which wins over the file; the rest keeps its default")
        func precedence() async throws {
            let path = try file(
                "server:\n  port: 9090\n  host: localhost\nscheduler:\n  max_batch_tokens: 2048\nusage:\n  prices: [\"m=0.5\"]\n")
            let environment = [
                "CONDUIT_SERVER_PORT": "9191", "CONDUIT_LIMITS_MAX_INPUTS": "7", "CONDUIT_MODEL_ALIASES": "a,b",
                "CONDUIT_MODEL_PRECISION": "int8",
            ]
            var loaded = try await ConfigurationSource(file: path, environment: environment).load().configuration
            #expect(loaded.server.port == 9191 && loaded.server.host == "localhost" && loaded.scheduler.maxBatchTokens == 2048)
            #expect(loaded.model.precision == .int8)
            #expect(loaded.limits.maxInputs == 7 && loaded.model.aliases == ["a", "b"] && loaded.usage.prices == ["m": 0.5])
            #expect(loaded.scheduler.maxQueuedRequests == SchedulerConfiguration().maxQueuedRequests)
            loaded = try await ConfigurationSource(file: path, environment: environment, overrides: ["server.port": ["9292"]]).load()
                .configuration
            #expect(loaded.server.port == 9292)
        }

        @Test("every problem is listed at once, naming the key, the value and what is allowed; a secret's value is never shown")
        func problemsNameKeys() async throws {
            let path = try file("sever:\n  port: 1\nserver:\n  prot: 2\nscheduler: 3\n")
            let unknown = await problems(ConfigurationSource(file: path, environment: [:]))
            #expect(unknown.contains { $0.contains("'sever' is not a section") })
            #expect(unknown.contains { $0.contains("'server.prot' is not a key") })
            #expect(unknown.contains { $0.contains("'scheduler' is a section") })

            let secret = "short-secret-value"
            let bad = await problems(
                ConfigurationSource(
                    file: try file(
                        "server:\n  port: 70000\n  cors_origins: https://a.example\nlimits:\n  max_inputs: [1, 2]\nmodel:\n  precision: int4\n"
                    ),
                    environment: ["CONDUIT_SCHEDULER_REQUEST_TIMEOUT_SECONDS": "soon", "CONDUIT_AUTH_ADMIN_KEY_FILE": "/no/such/file"],
                    overrides: ["logging.format": ["xml"]]))
            #expect(bad.contains("server.port '70000' is not allowed; it takes an integer from 0 to 65535"))
            #expect(bad.contains { $0.hasPrefix("server.cors_origins must be a list") })
            #expect(bad.contains { $0.hasPrefix("limits.max_inputs must be a single value") })
            #expect(bad.contains { $0.hasPrefix("scheduler.request_timeout_seconds 'soon' is not allowed; it takes a number of seconds") })
            #expect(bad.contains { $0.hasPrefix("auth.admin_key_file '/no/such/file' is not allowed") })
            #expect(bad.contains { $0.hasPrefix("logging.format 'xml' is not allowed; it takes json, logfmt or text") })
            #expect(bad.contains { $0.hasPrefix("model.precision 'int4' is not allowed; it takes fp32 or int8") })

            let hidden = await problems(ConfigurationSource(file: nil, environment: ["CONDUIT_AUTH_JWT_SECRET": secret]))
            #expect(hidden.count == 1 && !hidden[0].contains(secret), "\(hidden)")

            let crossField = await problems(ConfigurationSource(file: nil, environment: ["CONDUIT_SERVER_HOST": "0.0.0.0"]))
            #expect(crossField.count == 1 && crossField[0].contains("auth.enabled"))
        }

        @Test("a misspelt CONDUIT_ variable is a warning")
        func unknownVariable() async throws {
            let loaded = try await ConfigurationSource(file: nil, environment: ["CONDUIT_SEVER_PORT": "1", "CONDUIT_CONFIG": "x"]).load()
            #expect(loaded.warnings == ["the environment variable CONDUIT_SEVER_PORT is not a setting and is ignored"])
        }

        @Test("what config check prints reads back to the same configuration, with secrets redacted")
        func renderedReadsBack() async throws {
            let path = try file(
                "server:\n  port: 9090\n  cors_origins: [\"https://a.example\"]\n  latency_objectives: [\"/v1/embeddings=250\"]\n"
                    + "model:\n  aliases: [x, \"y z\"]\n  truncate: false\nscheduler:\n  request_timeout_seconds: 2.5\n")
            let loaded = try await ConfigurationSource(file: path, environment: [:]).load().configuration
            let rendered = loaded.renderedYAML
            let again = try await ConfigurationSource(file: try file(rendered), environment: [:]).load().configuration
            #expect(again == loaded, "\(rendered)")

            let secret = "0123456789abcdef0123456789abcdef-secret"
            let withSecret = try await ConfigurationSource(file: nil, environment: ["CONDUIT_AUTH_JWT_SECRET": secret]).load().configuration
            #expect(!withSecret.renderedYAML.contains(secret) && withSecret.renderedYAML.contains("jwt_secret: \"<redacted>\""))
        }

        @Test("the example configuration loads and documents every key")
        func exampleDocumentsEveryKey() async throws {
            let example = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "../../conduit.example.yaml").path
            _ = try await ConfigurationSource(file: example, environment: [:]).load()
            var section = ""
            var documented: Set<String> = []
            for line in try String(contentsOfFile: example, encoding: .utf8).split(separator: "\n") where !line.hasPrefix("#") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                let name = line[..<colon].trimmingCharacters(in: .whitespaces)
                if line.hasPrefix(" ") {
                    documented.insert(section + "." + name)
                } else {
                    section = name
                    documented.insert(name)
                }
            }
            let keys = Set(ServerSetting.all.map(\.key))
            #expect(keys.subtracting(documented).isEmpty, "not in the example: \(keys.subtracting(documented).sorted())")
        }

        @Test("the example configuration gives each key its default value, as the settings declare it")
        func exampleGivesDefaults() throws {
            let example = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "../../conduit.example.yaml").path
            var section = ""
            var given: [String: String] = [:]
            for line in try String(contentsOfFile: example, encoding: .utf8).split(separator: "\n") where !line.hasPrefix("#") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                let name = line[..<colon].trimmingCharacters(in: .whitespaces)
                let value = line[line.index(after: colon)...].split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
                    .trimmingCharacters(in: .whitespaces)
                if line.hasPrefix(" ") {
                    given[section + "." + name] = value
                } else {
                    section = name
                    if !value.isEmpty { given[name] = value }
                }
            }
            /// The same text for one value however YAML or `conduit config check` writes it.
            func normal(_ text: String) -> String {
                var text = text
                if text.hasPrefix("[") && text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
                if text == "\"\"" { text = "" }
                return text.split(separator: ",").map { item in
                    let item = item.trimmingCharacters(in: .whitespaces)
                    return Double(item).map { "\($0)" } ?? item
                }.joined(separator: ",")
            }
            for setting in ServerSetting.all where !setting.isSecret {
                let value = try #require(given[setting.key], "\(setting.key) is not in the example")
                #expect(
                    normal(value) == normal(setting.defaultValue ?? ""),
                    "\(setting.key): the example says '\(value)', the default is '\(setting.defaultValue ?? "")'")
            }
        }

        @Test("docs/configuration.md is what `conduit config keys` prints: every key with its variable, default and help")
        func keysDocument() throws {
            let document = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "../../docs/configuration.md")
            let written = try String(contentsOf: document, encoding: .utf8)
            #expect(written == ConfigurationDocument.text, "regenerate it: conduit config keys > docs/configuration.md")
            for setting in ServerSetting.all {
                #expect(!setting.help.isEmpty && written.contains("`\(setting.environmentVariable)`"), "\(setting.key)")
            }
        }

        @Test("a reload applies reloadable settings to requests that follow, refuses an invalid file whole, and names what needs a restart")
        func reload() async throws {
            let path = try file("limits:\n  max_inputs: 2\n")
            let source = ConfigurationSource(file: path, environment: [:])
            let configuration = try await source.load().configuration
            let live = LiveConfiguration(configuration)
            let scheduler = EmbeddingScheduler(
                backend: try TestServer.model(), configuration: configuration.scheduler, logger: TestServer.logger)
            let catalog = ModelCatalog(models: [
                ServedModel(name: "all-MiniLM-L6-v2", aliases: [], model: try TestServer.model(), scheduler: scheduler, created: 0)
            ])
            let app = try buildApplication(catalog: catalog, configuration: live, logger: TestServer.logger)
            let reloader = ConfigurationReloader(
                source: source, live: live, catalog: catalog, pollInterval: .milliseconds(20), metricsFactory: ServerMetrics().factory,
                logger: TestServer.logger,
                loadModel: { try await loadServedModel($0.modelSettings, metrics: ServerMetrics(), logger: TestServer.logger) })
            let three = ByteBuffer(string: #"{"input":["a","b","c"]}"#)
            try await app.test(.router) { client in
                #expect(
                    try await client.execute(uri: "/v1/embeddings", method: .post, headers: [.contentType: "application/json"], body: three)
                        .status == .badRequest)

                // Through the file watcher: the service notices the change by itself.
                let watching = Task { try await reloader.run() }
                defer { watching.cancel() }
                // Written again until noticed: the watcher may take its first look only after the first write.
                try await eventually(within: .seconds(10), every: .milliseconds(500)) {
                    guard live.version == 1 else { return true }
                    try "limits:\n  max_inputs: 3\nscheduler:\n  max_queued_requests: 700\nserver:\n  port: 1234\n".write(
                        toFile: path, atomically: true, encoding: .utf8)
                    return false
                }
                #expect(live.version == 2)
                #expect(
                    try await client.execute(uri: "/v1/embeddings", method: .post, headers: [.contentType: "application/json"], body: three)
                        .status == .ok)
                #expect(scheduler.configuration.maxQueuedRequests == 700)
                #expect(live.current.server.port == configuration.server.port, "the port needs a restart")

                // An invalid file changes nothing.
                try "limits:\n  max_inputs: none\n".write(toFile: path, atomically: true, encoding: .utf8)
                #expect(await reloader.reload(cause: "test") == false)
                #expect(live.version == 2 && live.current.limits.maxInputs == 3)

                // Requests under way while the configuration changes again and again all complete.
                try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                    for index in 0..<40 {
                        group.addTask {
                            try await client.execute(
                                uri: "/v1/embeddings", method: .post, headers: [.contentType: "application/json"],
                                body: ByteBuffer(string: #"{"input":"text \#(index)"}"#)
                            )
                            .status
                        }
                    }
                    for round in 0..<10 {
                        try "limits:\n  max_inputs: \(4 + round)\n".write(toFile: path, atomically: true, encoding: .utf8)
                        #expect(await reloader.reload(cause: "test"))
                    }
                    for try await status in group { #expect(status == .ok) }
                }
                #expect(live.current.limits.maxInputs == 13)
            }
            let (applied, needRestart) = live.reload(
                from: try await ConfigurationSource(file: try file("server:\n  port: 1\n"), environment: [:]).load().configuration)
            #expect(applied == ["limits.max_inputs"] && needRestart == ["server.port"])
        }

        @Test(
            "a reload is recorded in every team's log as config.reloaded by the actor config, naming the keys, never their values; a new name for the model as model.reloaded"
        )
        func reloadIsRecorded() async throws {
            try await TestDatabase.withTeams(.sqlite) { store, team, other in
                let path = try file("limits:\n  max_inputs: 2\n")
                let source = ConfigurationSource(file: path, environment: [:])
                let live = LiveConfiguration(try await source.load().configuration)
                let model = try TestServer.model()
                let scheduler = EmbeddingScheduler(backend: model, configuration: live.read(\.scheduler), logger: TestServer.logger)
                let catalog = ModelCatalog(models: [
                    ServedModel(
                        name: "all-MiniLM-L6-v2", aliases: [], model: model, scheduler: scheduler, created: 0, folder: TestModel.directory)
                ])
                let reloader = ConfigurationReloader(
                    source: source, live: live, catalog: catalog, store: store, metricsFactory: ServerMetrics().factory,
                    logger: TestServer.logger,
                    loadModel: { _ in throw TestSetupError("the model is only renamed: nothing is loaded") })
                try "limits:\n  max_inputs: 3\nauth:\n  jwt_secret: \(String(repeating: "s", count: 40))\nmodel:\n  served_name: minilm\n"
                    .write(
                        toFile: path, atomically: true, encoding: .utf8)
                #expect(await reloader.reload(cause: "test"))
                for teamID in [team.id, other.id] {
                    let events = try await store.events.list(
                        teamID: teamID, filter: EventFilter(types: ["config.reloaded", "model.reloaded"]))
                    #expect(events.map(\.topic) == ["config.reloaded", "model.reloaded"])
                    #expect(events.allSatisfy { $0.actor == "config" })
                    let reloaded = try #require(events.first)
                    #expect(reloaded.payload.contains(#""limits.max_inputs""#) && reloaded.payload.contains(#""auth.jwt_secret""#))
                    #expect(!reloaded.payload.contains("ssss"), "a key is named, its value never")
                    #expect(events.last?.payload.contains(#""model":"minilm""#) == true)
                }
            }
        }

        @Test(
            "pipelines are read from insights.pipelines_dir at load and again when one of its files changes; a bad file or an llm: pipeline whose model the gateway does not serve is refused, naming the file, the key or the setting"
        )
        func pipelines() async throws {
            let folder = FileManager.default.temporaryDirectory.appending(path: "conduit-pipelines-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let support = folder.appending(path: "support.yaml")
            let labels = "sentiment: {good: \"happy\", bad: \"unhappy\"}\n"
            try (labels + "topics: {billing: \"money\"}\n").write(to: support, atomically: true, encoding: .utf8)
            let path = try file("insights:\n  pipelines_dir: \(folder.path)\n")
            let source = ConfigurationSource(file: path, environment: [:])
            let configuration = try await source.load().configuration
            #expect(Set(configuration.insights.pipelines.pipelines.keys) == ["default", "support"])
            #expect(configuration.insights.pipelines["support"]?.topics == ["billing": "money"])

            let live = LiveConfiguration(configuration)
            let scheduler = EmbeddingScheduler(
                backend: try TestServer.model(), configuration: configuration.scheduler, logger: TestServer.logger)
            let reloader = ConfigurationReloader(
                source: source, live: live,
                catalog: ModelCatalog(models: [
                    ServedModel(name: "m", aliases: [], model: try TestServer.model(), scheduler: scheduler, created: 0)
                ]),
                pollInterval: .milliseconds(20),
                metricsFactory: ServerMetrics().factory, logger: TestServer.logger,
                loadModel: { try await loadServedModel($0.modelSettings, metrics: ServerMetrics(), logger: TestServer.logger) })
            let watching = Task { try await reloader.run() }
            defer { watching.cancel() }
            // Only a file of the folder changes, not conduit.yaml: the watcher sees it.
            try await eventually(within: .seconds(10), every: .milliseconds(300)) {
                guard live.version == 1 else { return true }
                try (labels + "topics: {billing: \"money\", shipping: \"parcels\"}\n").write(to: support, atomically: true, encoding: .utf8)
                return false
            }
            #expect(live.read(\.insights.pipelines)["support"]?.topics.keys.sorted() == ["billing", "shipping"])

            // A broken file refuses the reload whole; the pipelines in effect stay.
            try "sentiment: {good: \"happy\"}\n".write(to: folder.appending(path: "broken.yaml"), atomically: true, encoding: .utf8)
            #expect(await reloader.reload(cause: "test") == false)
            #expect(live.read(\.insights.pipelines)["broken"] == nil && live.read(\.insights.pipelines)["support"] != nil)
            let refused = await problems(source)
            #expect(refused.contains { $0.contains("broken.yaml") && $0.contains("sentiment") }, "\(refused)")

            try (labels + "analyzer: llm:gpt-4o-mini\n").write(to: folder.appending(path: "broken.yaml"), atomically: true, encoding: .utf8)
            #expect(await problems(source).contains { $0.contains("chat.models_file") && $0.contains("broken") })
            let models = folder.deletingLastPathComponent().appending(path: "models-\(UUID().uuidString).yaml")
            try "models:\n  - name: gpt-4o-mini\n    deployments:\n      - base_url: http://127.0.0.1:9/v1\n        model: m\n".write(
                to: models, atomically: true, encoding: .utf8)
            let withModel = ConfigurationSource(file: path, environment: ["CONDUIT_CHAT_MODELS_FILE": models.path])
            #expect(try await withModel.load().configuration.insights.pipelines["broken"]?.analyzer == .llm(model: "gpt-4o-mini"))

            // The sample pipeline shipped in deploy/ reads.
            let shipped = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "../../deploy/pipelines")
            #expect(try PipelineLibrary.load(from: shipped)["support"]?.prefilter.languages == ["en"])
        }

        /// The status and the first vector of an embeddings request for one text.
        private static func embed(_ client: some TestClientProtocol, model: String?) async throws -> (HTTPResponse.Status, [Double]) {
            let name = model.map { #","model":"\#($0)""# } ?? ""
            let response = try await client.execute(
                uri: "/v1/embeddings", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"input":"the same text"\#(name)}"#))
            let json = try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
            let vector = ((json?["data"] as? [[String: Any]])?.first?["embedding"] as? [NSNumber])?.map(\.doubleValue) ?? []
            return (response.status, vector)
        }
        @Test(
            "a reload that names another model loads it first, then serves it from the next request; requests under way all complete; a model that does not load refuses the reload"
        )
        func modelSwap() async throws {
            let model = try #require(TestModel.directory)
            // The same weights under another folder name: a model of its own for the server.
            let other = FileManager.default.temporaryDirectory.appending(path: "conduit-\(UUID().uuidString)/other-minilm")
            try FileManager.default.createDirectory(at: other.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(at: other, withDestinationURL: model)
            let path = try file("model:\n  dir: \(model.path)\n  served_name: first\n")
            let source = ConfigurationSource(file: path, environment: [:])
            let metrics = ServerMetrics()
            let load: @Sendable (ServerConfiguration) async throws -> ServedModel = {
                try await loadServedModel($0.modelSettings, metrics: metrics, logger: TestServer.logger)
            }
            let configuration = try await source.load().configuration
            let live = LiveConfiguration(configuration)
            let catalog = ModelCatalog(models: [try await load(configuration)])
            let first = catalog.models[0].scheduler
            let app = try buildApplication(catalog: catalog, configuration: live, metrics: metrics, logger: TestServer.logger)
            let reloader = ConfigurationReloader(
                source: source, live: live, catalog: catalog, metricsFactory: metrics.factory, logger: TestServer.logger, loadModel: load)
            try await app.test(.router) { client in
                let (status, before) = try await Self.embed(client, model: "first")
                #expect(status == .ok)
                try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                    for _ in 0..<40 { group.addTask { try await Self.embed(client, model: nil).0 } }
                    try "model:\n  dir: \(other.path)\n  aliases: [second]\n".write(toFile: path, atomically: true, encoding: .utf8)
                    #expect(await reloader.reload(cause: "test"))
                    for try await status in group { #expect(status == .ok) }
                }
                #expect(catalog.models.map(\.name) == ["other-minilm"] && catalog.models[0].scheduler !== first)
                #expect(try await Self.embed(client, model: "first").0 == .notFound)
                let (renamed, after) = try await Self.embed(client, model: "second")
                #expect(renamed == .ok && after == before, "the same weights give the same vector")
                let listed = try await client.execute(uri: "/v1/models", method: .get)
                #expect(String(buffer: listed.body).contains("other-minilm") && !String(buffer: listed.body).contains(#""first""#))

                // Only a new name: the same model, still loaded.
                let loaded = catalog.models[0].scheduler
                try "model:\n  dir: \(other.path)\n  served_name: renamed\n".write(toFile: path, atomically: true, encoding: .utf8)
                #expect(await reloader.reload(cause: "test"))
                #expect(catalog.models.map(\.name) == ["renamed"] && catalog.models[0].scheduler === loaded)
                #expect(try await Self.embed(client, model: "renamed").0 == .ok)

                try "model:\n  dir: /no/such/model\n".write(toFile: path, atomically: true, encoding: .utf8)
                #expect(await reloader.reload(cause: "test") == false)
                #expect(catalog.models.map(\.name) == ["renamed"] && live.current.model.directory == other)
                #expect(try await Self.embed(client, model: "renamed").0 == .ok)
            }
        }

        @Test("a reload sets the log levels the handlers follow")
        func logLevels() async throws {
            let path = try file("logging:\n  level: info\n")
            let source = ConfigurationSource(file: path, environment: [:])
            let live = LiveConfiguration(try await source.load().configuration)
            let levels = LiveLogLevels(try LogLevels(parsing: "info"))
            let scheduler = EmbeddingScheduler(backend: try TestServer.model(), configuration: .init(), logger: TestServer.logger)
            let reloader = ConfigurationReloader(
                source: source, live: live,
                catalog: ModelCatalog(models: [
                    ServedModel(name: "m", aliases: [], model: try TestServer.model(), scheduler: scheduler, created: 0)
                ]),
                logLevels: levels, metricsFactory: ServerMetrics().factory, logger: TestServer.logger,
                loadModel: { _ in throw TestSetupError("the model does not change") })
            try "logging:\n  level: debug,Store=error\n".write(toFile: path, atomically: true, encoding: .utf8)
            #expect(await reloader.reload(cause: "test"))
            #expect(levels.current == LogLevels(defaultLevel: .debug, bySubsystem: ["Store": .error]))
        }
    }
}
