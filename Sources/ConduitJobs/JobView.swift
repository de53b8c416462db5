import ConduitCore
import Foundation
import Store

/// A job as the API shows it (`object: "job"`); times in seconds since 1970, as OpenAI's objects have them,
/// and absent values as `null`. Written with snake_case keys.
public struct JobView: Encodable, Sendable {
    var id: String
    var object = "job"
    var kind: String
    var queue: String
    var state: String
    var priority: Int
    var input: JSONValue
    var result: JSONValue
    var errors: [AttemptError]
    var attempt: Int
    var maxAttempts: Int
    @Nullable var runAt: Int64?
    @Nullable var expiresAt: Int64?
    @Nullable var createdAt: Int64?
    @Nullable var attemptedAt: Int64?
    @Nullable var finishedAt: Int64?
    var progress: Progress

    struct AttemptError: Encodable, Sendable {
        var attempt: Int
        var at: Int64
        var message: String
    }

    struct Progress: Encodable, Sendable {
        var done: Int
        @Nullable var total: Int?
    }

    public init(_ job: Job) {
        func json(_ text: String?) -> JSONValue {
            text.flatMap { try? JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) } ?? .null
        }
        id = job.id
        kind = job.kind
        queue = job.queue
        state = job.state.rawValue
        priority = job.priority
        input = json(job.input)
        result = json(job.result)
        errors = job.errors.map { AttemptError(attempt: $0.attempt, at: StoreTime.seconds($0.at), message: $0.message) }
        attempt = job.attempt
        maxAttempts = job.maxAttempts
        runAt = StoreTime.seconds(job.runAt)
        expiresAt = StoreTime.seconds(job.expiresAt)
        createdAt = StoreTime.seconds(job.createdAt)
        attemptedAt = StoreTime.seconds(job.attemptedAt)
        finishedAt = StoreTime.seconds(job.finishedAt)
        progress = Progress(done: job.progressDone, total: job.progressTotal)
    }
}
