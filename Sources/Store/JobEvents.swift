/// The events of jobs that end (a webhook's delivery is not one: it is how events leave, not news).
public enum JobEvents {
    public static let all: [any EventPayload.Type] = [Completed.self, Discarded.self, Cancelled.self]

    public struct Completed: EventPayload {
        public static let type = "job.completed"
        public static let summary = "A job finished its work; its result is at `GET /v1/jobs/{id}`."
        public static let scope = Scope.jobs
        public static let example = Completed(jobID: "7a41…", kind: "embeddings", queue: "default")

        public var jobID: String
        public var kind: String
        public var queue: String

        public var resource: String? { "job:\(jobID)" }
    }

    public struct Discarded: EventPayload {
        public static let type = "job.discarded"
        public static let summary = "A job failed its last attempt and will not run again unless retried."
        public static let scope = Scope.jobs
        public static let example = Discarded(jobID: "7a41…", kind: "embeddings", queue: "default", attempts: 3, error: "model not found")

        public var jobID: String
        public var kind: String
        public var queue: String
        public var attempts: Int
        /// The last attempt's error, at most 1,000 characters.
        public var error: String

        public var resource: String? { "job:\(jobID)" }
    }

    public struct Cancelled: EventPayload {
        public static let type = "job.cancelled"
        public static let summary = "A job was cancelled before it finished."
        public static let scope = Scope.jobs
        public static let example = Cancelled(jobID: "7a41…", kind: "embeddings", queue: "default")

        public var jobID: String
        public var kind: String
        public var queue: String

        public var resource: String? { "job:\(jobID)" }
    }

    /// Whether a job of `kind` announces its end.
    static func announces(_ kind: String) -> Bool { kind != Webhook.deliveryKind }
}

/// The events of API keys: made, rotated, revoked, by whatever means (the API or `conduit keys`).
public enum KeyEvents {
    public static let all: [any EventPayload.Type] = [Created.self, Rotated.self, Revoked.self]

    public struct Created: EventPayload {
        public static let type = "key.created"
        public static let summary = "An API key was made."
        public static let scope = Scope.admin
        public static let example = Created(keyID: "3c2a…", name: "ci", prefix: "ck_4f9a", scopes: ["embeddings", "jobs"])

        public var keyID: String
        public var name: String
        public var prefix: String
        public var scopes: [String]

        public var resource: String? { "key:\(keyID)" }
    }

    public struct Rotated: EventPayload {
        public static let type = "key.rotated"
        public static let summary = "An API key was replaced by a new one with its name, scopes and limits; the old one is revoked."
        public static let scope = Scope.admin
        public static let example = Rotated(keyID: "3c2a…", replacementID: "8e77…", prefix: "ck_1b20")

        public var keyID: String
        public var replacementID: String
        /// The new key's visible prefix.
        public var prefix: String

        public var resource: String? { "key:\(keyID)" }
    }

    public struct Revoked: EventPayload {
        public static let type = "key.revoked"
        public static let summary = "An API key was revoked: it is refused from now on."
        public static let scope = Scope.admin
        public static let example = Revoked(keyID: "3c2a…", name: "ci")

        public var keyID: String
        public var name: String

        public var resource: String? { "key:\(keyID)" }
    }
}
