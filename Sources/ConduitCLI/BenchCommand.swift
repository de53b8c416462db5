import ArgumentParser
import AsyncHTTPClient
import Conduit
import ConduitCore
import ConduitEmbeddings
import Foundation
import ModelRuntime
import NIOCore
import NIOHTTP1
import Synchronization

/// `conduit bench`: the embedding engine (the default) or the store.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the embedding engine (in-process and over HTTP) or what the store sustains.",
        subcommands: [EmbeddingsBench.self, StoreBench.self],
        defaultSubcommand: EmbeddingsBench.self
    )
}

struct EmbeddingsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embeddings",
        abstract: "Measure embedding throughput in-process and over HTTP, readiness time and server memory.",
        discussion: """
            Reads the corpora of benchmarks/peers/make_corpus.py (corpus_short.jsonl, corpus_long.jsonl). In-process runs
            tokenize, encode, pool and normalise length-sorted batches, as the ONNX Runtime peer does; the HTTP runs start
            `conduit serve` as a child process and send single-text requests from concurrent clients.
            """
    )

    @Option(help: "Folder holding corpus_short.jsonl and corpus_long.jsonl (python3 benchmarks/peers/make_corpus.py writes them).")
    var corpusDir = "benchmarks/.corpus"

    @OptionGroup var model: ModelOptions

    @Option(help: "How the model's dense layers compute: fp32 or int8.")
    var precision: Precision = .fp32

    @Option(parsing: .upToNextOption, help: "Corpora to run: short, long.")
    var corpora: [String] = ["short", "long"]

    @Option(parsing: .upToNextOption, help: "In-process batch sizes.")
    var batchSizes: [Int] = [1, 32]

    @Option(parsing: .upToNextOption, help: "HTTP client concurrencies.")
    var concurrency: [Int] = [1, 8, 32]

    @Option(
        parsing: .upToNextOption, help: "Texts per in-process run for short texts (bs>1), long texts (bs>1), short at bs 1, long at bs 1.")
    var inProcessTexts: [Int] = [600, 96, 200, 24]

    @Option(help: "In-process repetitions; the median is reported.")
    var runs = 3

    @Option(help: "Seconds of load per HTTP run.")
    var duration: Double = 15

    @Flag(help: "Skip the HTTP runs.")
    var noHTTP = false

    @Flag(help: "Skip the in-process runs.")
    var noInProcess = false

    @Flag(help: "Also run the in-process batches on every lane at once, a caller per core, as the server does under load.")
    var lanes = false

    @Option(help: "Load a server already running at this base URL instead of starting one (readiness and memory are then not measured).")
    var url: String?

    @Option(help: "Write all results as JSON to this file.")
    var json: String?

    @Flag(help: "Only print, as JSON, what the figures would be measured on (the CPU, its features, the kernel), and exit.")
    var describe = false

    struct Result: Codable {
        var mode: String
        var corpus: String
        var batchSize: Int?
        var concurrency: Int?
        var textsPerSecond: Double
        var tokensPerSecond: Double
        var p50Milliseconds: Double?
        var p99Milliseconds: Double?
        var errors: Int?
    }

    struct Report: Codable {
        /// The CPU, its features and the kernel: figures from different machines are not one series.
        var compute: ComputeEnvironment
        var results: [Result] = []
        var readySeconds: Double?
        var residentMegabytesReady: Double?
        var residentMegabytesPeak: Double?
    }

    func run() async throws {
        if describe {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(try InProcessBenchmark.computeEnvironment(precision: precision)), as: UTF8.self))
            return
        }
        var configuration = ServerConfiguration()
        try model.apply(to: &configuration, environment: ProcessInfo.processInfo.environment)
        let logger = try LogOptions.parse(["--log-level", "warning"]).makeLogger()
        let folder =
            try configuration.model.directory
            ?? DefaultModel.locate(in: ModelStore(dataDirectory: configuration.dataDirectory), logger: logger)
        let compute = try InProcessBenchmark.computeEnvironment(precision: precision)
        progress("on \(compute.summary)")
        var report = Report(compute: compute)
        let texts = try Dictionary(uniqueKeysWithValues: corpora.map { ($0, try loadCorpus($0)) })

        if !noInProcess {
            let loaded = try InProcessBenchmark(directory: folder, precision: precision)
            for corpus in corpora {
                for batchSize in batchSizes {
                    let count = inProcessTexts[(corpus == "short" ? 0 : 1) + (batchSize == 1 ? 2 : 0)]
                    for onLanes in lanes ? [false, true] : [false] {
                        let result = try measureInProcess(
                            loaded, texts: Array(texts[corpus]!.prefix(count)), corpus: corpus, batchSize: batchSize, onLanes: onLanes)
                        report.results.append(result)
                        progress(
                            "\(result.mode) \(corpus) bs \(batchSize): \(format(result.textsPerSecond)) texts/s, \(format(result.tokensPerSecond)) tokens/s"
                        )
                    }
                }
            }
        }
        if !noHTTP {
            try await measureHTTP(folder: folder, texts: texts, report: &report)
        }
        print(table(report))
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(report).write(to: URL(filePath: json))
        }
    }

    private func loadCorpus(_ name: String) throws -> [String] {
        let url = URL(filePath: corpusDir).appending(path: "corpus_\(name).jsonl")
        guard let data = try? String(contentsOf: url, encoding: .utf8) else {
            throw ValidationError("\(url.path) not found: run `python3 benchmarks/peers/make_corpus.py --out-dir \(corpusDir)` first")
        }
        return try data.split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            guard let text = object?["text"] as? String else { throw ValidationError("\(url.path): a line without text") }
            return text
        }
    }

    private func measureInProcess(
        _ benchmark: InProcessBenchmark, texts: [String], corpus: String, batchSize: Int, onLanes: Bool
    ) throws -> Result {
        let (textsPerSecond, tokensPerSecond) = try benchmark.measure(texts, batchSize: batchSize, onLanes: onLanes, runs: runs)
        return Result(
            mode: onLanes ? "in-process, every lane" : "in-process", corpus: corpus, batchSize: batchSize,
            textsPerSecond: textsPerSecond, tokensPerSecond: tokensPerSecond)
    }

    private func measureHTTP(folder: URL, texts: [String: [String]], report: inout Report) async throws {
        let server = url == nil ? try ChildServer(modelDirectory: folder, precision: precision) : nil
        defer { server?.stop() }
        if let server {
            let ready = try await server.waitUntilReady()
            report.readySeconds = ready
            report.residentMegabytesReady = server.residentMegabytes(peak: false)
            progress("server ready in \(format(ready)) s, resident \(format(report.residentMegabytesReady ?? 0)) MB")
        }
        let baseURL = url ?? server!.url
        let client = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)))
        do {
            for corpus in corpora {
                for clients in concurrency {
                    let result = try await load(client: client, url: baseURL, texts: texts[corpus]!, corpus: corpus, clients: clients)
                    report.results.append(result)
                    progress(
                        "http \(corpus) c=\(clients): \(format(result.textsPerSecond)) texts/s, p50 \(format(result.p50Milliseconds ?? 0)) ms, p99 \(format(result.p99Milliseconds ?? 0)) ms, errors \(result.errors ?? 0)"
                    )
                }
            }
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
        report.residentMegabytesPeak = server?.residentMegabytes(peak: true)
    }

    /// `clients` concurrent loops, each sending one text per request, for `duration` seconds.
    private func load(client: HTTPClient, url: String, texts: [String], corpus: String, clients: Int) async throws -> Result {
        let bodies = texts.map { text in
            ByteBuffer(bytes: try! JSONSerialization.data(withJSONObject: ["input": text, "model": DefaultModel.servedName]))
        }
        let deadline = ContinuousClock.now + .seconds(duration)
        let start = ContinuousClock.now
        let errorShown = OnceFlag()
        let outcomes = try await withThrowingTaskGroup(of: (latencies: [Double], tokens: Int, errors: Int).self) { group in
            for worker in 0..<clients {
                group.addTask {
                    var latencies: [Double] = []
                    var tokens = 0
                    var errors = 0
                    var next = worker
                    while ContinuousClock.now < deadline {
                        var request = HTTPClientRequest(url: url + "/v1/embeddings")
                        request.method = .POST
                        request.headers.add(name: "Content-Type", value: "application/json")
                        request.body = .bytes(bodies[next % bodies.count])
                        next += clients
                        let sent = ContinuousClock.now
                        let response = try await client.execute(request, timeout: .seconds(60))
                        let body = try await response.body.collect(upTo: 1 << 20)
                        guard response.status == .ok else {
                            if errorShown.setFirst() {
                                progress("first error: HTTP \(response.status.code) \(String(buffer: body).prefix(200))")
                            }
                            errors += 1
                            continue
                        }
                        latencies.append((ContinuousClock.now - sent) / .milliseconds(1))
                        tokens += Self.promptTokens(in: body)
                    }
                    return (latencies, tokens, errors)
                }
            }
            return try await group.reduce(into: [(latencies: [Double], tokens: Int, errors: Int)]()) { $0.append($1) }
        }
        let elapsed = (ContinuousClock.now - start) / .seconds(1)
        let latencies = outcomes.flatMap(\.latencies).sorted()
        let percentile = { (p: Double) in latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
        return Result(
            mode: "http", corpus: corpus, concurrency: clients,
            textsPerSecond: Double(latencies.count) / elapsed,
            tokensPerSecond: Double(outcomes.reduce(0) { $0 + $1.tokens }) / elapsed,
            p50Milliseconds: percentile(0.5), p99Milliseconds: percentile(0.99),
            errors: outcomes.reduce(0) { $0 + $1.errors })
    }

    private static func promptTokens(in body: ByteBuffer) -> Int {
        let json = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]
        return (json?["usage"] as? [String: Any])?["prompt_tokens"] as? Int ?? 0
    }

    private func table(_ report: Report) -> String {
        var lines = [
            "\(report.compute.summary)\n", "| mode | corpus | batch / concurrency | texts/s | tokens/s | p50 ms | p99 ms |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in report.results {
            let shape = r.batchSize.map { "bs \($0)" } ?? "c=\(r.concurrency ?? 0)"
            lines.append(
                "| \(r.mode) | \(r.corpus) | \(shape) | \(format(r.textsPerSecond)) | \(format(r.tokensPerSecond)) | \(r.p50Milliseconds.map(format) ?? "") | \(r.p99Milliseconds.map(format) ?? "") |"
            )
        }
        if let ready = report.readySeconds {
            lines.append(
                "\nready in \(format(ready)) s; resident memory \(format(report.residentMegabytesReady ?? 0)) MB when ready, \(format(report.residentMegabytesPeak ?? 0)) MB peak"
            )
        }
        return lines.joined(separator: "\n")
    }
}

func format(_ value: Double) -> String { String(format: value >= 100 ? "%.0f" : "%.1f", value) }

func progress(_ line: String) { FileHandle.standardError.write(Data("bench: \(line)\n".utf8)) }

/// True for the first caller of `setFirst()` only, from any task.
private final class OnceFlag: Sendable {
    private let isSet = Atomic<Bool>(false)
    func setFirst() -> Bool { !isSet.exchange(true, ordering: .relaxed) }
}
extension Precision: ExpressibleByArgument {}
