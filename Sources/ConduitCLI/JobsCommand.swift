import ArgumentParser
import Conduit
import ConduitCore
import ConduitEmbeddings
import ConduitJobs
import Foundation
import Store

struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs", abstract: "List, show, watch, cancel and retry jobs, in the store the server uses.",
        subcommands: [List.self, Show.self, Watch.self, Cancel.self, Retry.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List jobs, newest first.")
        @OptionGroup var database: StoreOptions
        @Option(help: "Team id or name (default: every team).") var team: String?
        @Option(help: "Only jobs in this state (scheduled, available, running, completed, retryable, discarded, cancelled).")
        var state: String?
        @Option(help: "Only jobs of this kind.") var kind: String?
        @Option(help: "How many (1 to 1000).") var limit = 20

        func validate() throws {
            if let state, JobState(rawValue: state) == nil {
                throw ValidationError("unknown state '\(state)'; states are \(JobState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard (1...1000).contains(limit) else { throw ValidationError("--limit must be 1...1000") }
        }

        func run() async throws {
            let jobs = try await database.withDatabase(logger: quietLogger()) { store in
                let teams = if let team { [try await store.teams.require(team)] } else { try await store.teams.list() }
                var jobs: [Job] = []
                for team in teams {
                    jobs += try await store.jobs.list(teamID: team.id, state: state.flatMap(JobState.init), kind: kind, limit: limit)
                }
                return Array(jobs.sorted { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }.prefix(limit))
            }
            printTable(
                ["ID", "KIND", "QUEUE", "STATE", "ATTEMPT", "PROGRESS", "CREATED"],
                jobs.map { job -> [String] in
                    let progress: String = job.progressTotal.map { "\(job.progressDone)/\($0)" } ?? "-"
                    let attempts = "\(job.attempt)/\(job.maxAttempts)"
                    return [job.id, job.kind, job.queue, job.state.rawValue, attempts, progress, formatTime(job.createdAt)]
                })
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a job as the API shows it, as JSON.")
        @OptionGroup var database: StoreOptions
        @Argument(help: "The job's id.") var id: String

        func run() async throws {
            let job = try await database.withDatabase(logger: quietLogger()) { try await $0.jobs.require(id) }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            encoder.keyEncodingStrategy = .convertToSnakeCase
            print(String(decoding: try encoder.encode(JobView(job)), as: UTF8.self))
        }
    }

    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Follow a job's progress until it finishes; exits 0 when it completed, 1 otherwise.")
        @OptionGroup var database: StoreOptions
        @Argument(help: "The job's id.") var id: String
        @Option(help: "Seconds between looks.") var interval = 0.5

        func run() async throws {
            let state = try await database.withDatabase(logger: quietLogger()) { store in
                var job = try await store.jobs.require(id)
                let bar = ProgressBar(label: "\(job.kind) \(job.id.prefix(8))", total: job.progressTotal ?? 1, unit: .items("items"))
                while !job.state.isFinished {
                    bar.set(done: job.progressDone, total: job.progressTotal)
                    try await Task.sleep(for: .seconds(interval))
                    job = try await store.jobs.require(id)
                }
                bar.set(done: job.progressDone, total: job.progressTotal)
                bar.finish()
                if let error = job.errors.last, job.state != .completed { print("last error: \(error.message)") }
                return job.state
            }
            print(state.rawValue)
            if state != .completed { throw ExitCode.failure }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel a job that has not finished (a running one stops at its next lease renewal).")
        @OptionGroup var database: StoreOptions
        @Argument(help: "The job's id.") var id: String

        func run() async throws {
            let job = try await database.withDatabase(logger: quietLogger()) { store in
                try await store.jobs.cancel(id, teamID: try await store.jobs.require(id).teamID)
            }
            print(job.state.rawValue)
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run a discarded, cancelled or retryable job again now.")
        @OptionGroup var database: StoreOptions
        @Argument(help: "The job's id.") var id: String

        func run() async throws {
            let job = try await database.withDatabase(logger: quietLogger()) { store in
                try await store.jobs.retry(id, teamID: try await store.jobs.require(id).teamID)
            }
            print(job.state.rawValue)
        }
    }
}

extension JobsRepository {
    /// The job with this id, or a usage error naming it.
    fileprivate func require(_ id: String) async throws -> Job {
        guard let job = try await find(id) else { throw ValidationError("no job '\(id)'") }
        return job
    }
}
