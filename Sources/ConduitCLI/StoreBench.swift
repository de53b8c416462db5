import ArgumentParser
import Foundation
import Logging
import Store

/// `conduit bench store`: what one database sustains for the writes every node makes on the request
/// and job paths, at several numbers of concurrent callers: a job's life (enqueue, claim, complete),
/// a rate-limit admission on one hot key and on a key per caller, and usage events in batches of 100.
struct StoreBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Measure jobs, rate-limit admissions and usage writes per second on one database.",
        discussion: """
            Runs against the database of --database-url (a PostgreSQL server for the figures that matter: its \\
            pool holds 16 connections per node) in a team of its own, which it deletes nothing of: use a \\
            database made for the run. Each workload runs for --duration seconds at each --clients.
            """
    )

    @OptionGroup var database: StoreOptions

    @Option(parsing: .upToNextOption, help: "Concurrent callers, one run each.")
    var clients: [Int] = [1, 8, 32]

    @Option(help: "Seconds per run.")
    var duration: Double = 5

    @Option(help: "Write the results as JSON to this file.")
    var json: String?

    /// What one operation of a run writes.
    enum Workload: String, CaseIterable, Codable {
        case jobs = "jobs"
        case hotKey = "limits, one key"
        case keyEach = "limits, a key each"
        case usage = "usage, 100 a batch"

        var rowsPerOperation: Int { self == .usage ? 100 : 1 }
    }

    struct Result: Codable {
        var workload: Workload
        var clients: Int
        var operationsPerSecond: Double
        var rowsPerSecond: Double
        var errors: Int
    }

    func run() async throws {
        var logger = Logger(label: "conduit-bench")
        logger.logLevel = .warning
        let results = try await database.withDatabase(logger: logger) { store in
            let team = try await store.teams.create(name: "bench-\(UUID().uuidString.prefix(8))")
            var results: [Result] = []
            for workload in Workload.allCases {
                for count in clients {
                    let result = try await measure(workload, clients: count) { client in
                        try await operation(workload, store: store, teamID: team.id, client: client)
                    }
                    FileHandle.standardError.write(
                        Data(
                            "\(workload.rawValue), \(count) clients: \(Int(result.operationsPerSecond)) operations/s, \(result.errors) errors\n"
                                .utf8))
                    results.append(result)
                }
            }
            return results
        }
        print("| workload | clients | operations/s | rows/s | errors |\n|---|---:|---:|---:|---:|")
        for result in results {
            print(
                "| \(result.workload.rawValue) | \(result.clients) | \(Int(result.operationsPerSecond)) | \(Int(result.rowsPerSecond)) | \(result.errors) |"
            )
        }
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(results).write(to: URL(filePath: json))
        }
    }

    /// One operation of `workload` by caller number `client`.
    private func operation(_ workload: Workload, store: Database, teamID: String, client: Int) async throws {
        switch workload {
        case .jobs:
            _ = try await store.jobs.enqueue(NewJob(kind: "bench", queue: "bench", input: "{}"), teamID: teamID)
            for job in try await store.jobs.claim(queue: "bench", limit: 1, node: "bench-\(client)", lease: 30_000) {
                _ = try await store.jobs.complete(job.id, node: "bench-\(client)", attempt: job.attempt, result: "{}")
            }
        case .hotKey, .keyEach:
            let subject = workload == .hotKey ? "bench:\(teamID)" : "bench:\(teamID):\(client)"
            let window = RateWindow(subject: subject, period: .minute, requestLimit: 1 << 40, tokenLimit: 1 << 40)
            _ = try await store.rateCounters.admit(tokens: 10, in: [window])
        case .usage:
            let events = (0..<100).map { _ in
                UsageEvent(teamID: teamID, keyID: nil, model: "bench", route: "/bench", tokens: 10, latencyMilliseconds: 1, status: 200)
            }
            try await store.usage.record(events)
        }
    }

    private func measure(
        _ workload: Workload, clients: Int, _ operation: @escaping @Sendable (Int) async throws -> Void
    ) async throws -> Result {
        let start = ContinuousClock.now
        let end = start + .milliseconds(Int(duration * 1000))
        let (done, errors) = await withTaskGroup(of: (done: Int, errors: Int).self) { group in
            for client in 0..<clients {
                group.addTask {
                    var counts = (done: 0, errors: 0)
                    while ContinuousClock.now < end {
                        do {
                            try await operation(client)
                            counts.done += 1
                        } catch {
                            counts.errors += 1
                        }
                    }
                    return counts
                }
            }
            return await group.reduce(into: (done: 0, errors: 0)) { total, counts in
                total.done += counts.done
                total.errors += counts.errors
            }
        }
        let seconds = (ContinuousClock.now - start) / .seconds(1)
        return Result(
            workload: workload, clients: clients, operationsPerSecond: Double(done) / seconds,
            rowsPerSecond: Double(done * workload.rowsPerOperation) / seconds, errors: errors)
    }
}
