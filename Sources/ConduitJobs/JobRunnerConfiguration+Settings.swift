import ConduitCore

extension JobRunnerConfiguration {
    /// `jobs.*`: the queues this node runs, leases, retention and the waiting bound.
    package static let settings: [Setting<JobRunnerConfiguration>] = [
        .keyedList(
            "jobs.queues", form: "QUEUE=CONCURRENCY entries, the queues this node runs (default=4, embeddings=1, insights=2, webhooks=4)",
            \.queues, help: "the queues this node runs, and how many of each queue's jobs run at once",
            parse: { _, text in Int(text).flatMap { (1...256).contains($0) ? $0 : nil } }, show: { "\($0)" }),
        .seconds("jobs.lease_seconds", \.lease, help: "a running job's lease, renewed every third of it"),
        .seconds(
            "jobs.attempt_timeout_seconds", \.attemptTimeout,
            help: "how long one attempt may run before it fails and is retried (its lease is no longer renewed)"),
        .integer("jobs.retention_days", 1...3650, \.retentionDays, help: "finished jobs are deleted this long after they finished"),
        .integer(
            "jobs.max_waiting_per_team", 1...10_000_000, \.maxWaitingPerTeam,
            help: "jobs a team may have waiting in one queue; past it, 429 job_queue_full"),
    ]
}
