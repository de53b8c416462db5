import ConduitCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Store

/// `/v1/jobs`: submit work to run out of the request path, follow it, fetch what it produced, cancel
/// or retry it. Jobs belong to the caller's team; another team's are 404. A job is acknowledged (202)
/// only once it is committed; an `Idempotency-Key` returns the job it first created (200 with
/// `Idempotent-Replayed: true`).
package struct JobsController {
    package let store: Database
    package let runner: JobRunner
    package let workers: [String: any JobWorker]
    package let limits: Live<APILimits>
    package let teams: TeamScope
    /// Nil where nothing is limited.
    package let rateLimiter: RateLimiter?

    /// Serves the kinds among `workers` that clients submit.
    package init(
        store: Database, teams: TeamScope, runner: JobRunner, workers: [any JobWorker], limits: Live<APILimits>, rateLimiter: RateLimiter?
    ) {
        self.store = store
        self.rateLimiter = rateLimiter
        self.teams = teams
        self.runner = runner
        self.workers = Dictionary(workers.filter(\.isSubmittable).map { ($0.kind, $0) }) { first, _ in first }
        self.limits = limits
    }

    package func addRoutes(to router: some RouterMethods<ConduitRequestContext>) {
        router.post("/v1/jobs") { request, context in try await submit(request, context: context) }
        router.get("/v1/jobs") { request, context in try await list(request, context: context) }
        router.get("/v1/jobs/{id}") { _, context in
            try view(try await job(context))
        }
        router.get("/v1/jobs/{id}/output") { request, context in try await output(request, context: context) }
        router.post("/v1/jobs/{id}/cancel") { _, context in
            let job = try await job(context)
            return try view(try await store.jobs.cancel(job.id, teamID: job.teamID))
        }
        router.post("/v1/jobs/{id}/retry") { _, context in
            let job = try await store.jobs.retry(try await job(context).id, teamID: try await team(context))
            runner.wake(job.queue)
            return try view(job)
        }
    }

    package struct Submission: Decodable {
        package var kind: String
        package var queue: String?
        package var priority: Int?
        package var maxAttempts: Int?
        /// Seconds since 1970.
        package var runAt: Double?
        package var expiresAt: Double?
        /// The job's input, any JSON its kind takes.
        package var input: JSONValue?

        package enum CodingKeys: String, CodingKey {
            case kind, queue, priority, input
            case maxAttempts = "max_attempts"
            case runAt = "run_at"
            case expiresAt = "expires_at"
        }
    }

    private func submit(_ request: Request, context: ConduitRequestContext) async throws -> Response {
        let submission = try await request.decodeJSON(as: Submission.self, limit: limits.read(\.maxBodyBytes))
        guard let worker = workers[submission.kind] else {
            let kinds =
                workers.isEmpty ? "this node runs none (server.features)" : "kinds: \(workers.keys.sorted().joined(separator: ", "))"
            throw InvalidInput("no job kind '\(submission.kind.bounded())'; \(kinds)", param: "kind", code: "unknown_job_kind")
        }
        guard let input = submission.input else {
            throw InvalidInput("'input' is required: the job's JSON input", param: "input", code: "missing_input")
        }
        // Canonical, so that one Idempotency-Key with the same input matches however the JSON was written.
        let inputJSON = try input.canonicalJSON()
        try worker.validate(input: inputJSON)
        let priority = submission.priority ?? 0
        guard (0...9).contains(priority) else {
            throw InvalidInput("priority must be from 0 (first) to 9, got \(priority)", param: "priority", code: "invalid_value")
        }
        let maxAttempts = submission.maxAttempts ?? 5
        guard (1...25).contains(maxAttempts) else {
            throw InvalidInput(
                "max_attempts must be from 1 to 25, got \(maxAttempts)", param: "max_attempts", code: "invalid_value")
        }
        let key = try request.idempotencyKey()
        for (name, seconds) in [("run_at", submission.runAt), ("expires_at", submission.expiresAt)] {
            guard let seconds else { continue }
            // Seconds since 1970, before year 10000: anything else is a mistake (and would not fit in milliseconds).
            guard seconds.isFinite, (0...253_402_300_799).contains(seconds) else {
                throw InvalidInput("\(name) must be a time in seconds since 1970", param: name, code: "invalid_value")
            }
        }
        let queue = submission.queue ?? worker.defaultQueue
        // A job on a queue nobody runs would wait for ever (and the queue names metrics: no free text).
        guard runner.serves(queue) else {
            throw InvalidInput("no queue '\(queue)' on this server (jobs.queues)", param: "queue", code: "unknown_queue")
        }
        // The submission is a request of its key; the work's tokens count as the worker does it.
        _ = try await rateLimiter?.admit(context.identity, tokens: 0)
        let (job, created) = try await store.jobs.enqueue(
            NewJob(
                kind: submission.kind, queue: queue, input: String(decoding: inputJSON, as: UTF8.self), priority: priority,
                maxAttempts: maxAttempts, runAt: submission.runAt.map { Int64($0 * 1000) },
                expiresAt: submission.expiresAt.map { Int64($0 * 1000) }, idempotencyKey: key, traceContext: TraceContextCarrier.current(),
                keyID: context.identity?.keyID),
            teamID: try await team(context), maxWaiting: runner.maxWaitingPerTeam)
        runner.wake(job.queue)
        var response = try view(job, status: created ? .accepted : .ok)
        if !created { response.headers[.idempotentReplayed] = "true" }
        return response
    }

    private func list(_ request: Request, context: ConduitRequestContext) async throws -> Response {
        let query = request.uri.queryParameters
        let page = try ListPage(request)
        var state: JobState?
        if let name = query["state"] {
            guard let known = JobState(rawValue: String(name)) else {
                throw InvalidInput(
                    "state must be one of \(JobState.allCases.map(\.rawValue).joined(separator: ", "))", param: "state",
                    code: "invalid_value")
            }
            state = known
        }
        let jobs = try await store.jobs.list(
            teamID: try await teams.teamID(context), state: state, kind: query["kind"].map(String.init), hiddenKinds: Self.hiddenKinds,
            limit: page.fetch, after: page.after)
        return try page.response(jobs, id: \.id, view: JobView.init)
    }

    /// What a completed job produced: for embeddings, the vectors as JSON lines (`format=jsonl`, the
    /// default) or little-endian float32 (`format=float32`).
    private func output(_ request: Request, context: ConduitRequestContext) async throws -> Response {
        let job = try await job(context)
        guard job.state == .completed else {
            throw JobsError.outputNotReady(job.state)
        }
        let output = try await store.jobs.output(job.id, teamID: job.teamID) ?? Data()
        let format = request.uri.queryParameters["format"].map(String.init) ?? "jsonl"
        if format == "float32" {
            return Response(
                status: .ok, headers: [.contentType: "application/octet-stream"], body: .init(byteBuffer: ByteBuffer(bytes: output)))
        }
        guard let (contentType, body) = try workers[job.kind]?.formattedOutput(output, result: job.result ?? "{}", format: format) else {
            throw InvalidInput("format must be float32 or jsonl (for embeddings)", param: "format", code: "invalid_value")
        }
        return Response(status: .ok, headers: [.contentType: contentType], body: .init(byteBuffer: body))
    }

    /// The caller's job of this id: another team's, or one of `hiddenKinds`, is not found.
    private func job(_ context: ConduitRequestContext) async throws -> Job {
        let id = try context.parameters.require("id")
        guard let job = try await store.jobs.find(id, teamID: try await team(context)), !Self.hiddenKinds.contains(job.kind) else {
            throw StoreError.notFound("job \(id)")
        }
        return job
    }

    /// Webhook deliveries are jobs, but the webhooks' own (`/v1/webhooks/{id}/deliveries`, `admin` scope): a
    /// `jobs` key neither sees them here nor cancels or retries them.
    static let hiddenKinds = [Webhook.deliveryKind]

    private func team(_ context: ConduitRequestContext) async throws -> String { try await teams.teamID(context) }

    private func view(_ job: Job, status: HTTPResponse.Status = .ok) throws -> Response {
        try json(JobView(job), status: status)
    }
}
