/// The events of the audit trail: who made teams and changed keys, users, limits, webhooks and the configuration. Each
/// is recorded with its actor (`EventActor`), in the transaction of the change; none carries a secret.
public enum AuditTrail {
    public static let types: [any EventPayload.Type] =
        TeamEvents.all + KeyEvents.all + UserEvents.all + [LimitsChanged.self] + WebhookEvents.all + [NodeEvents.ConfigurationReloaded.self]
}

/// Who caused the events recorded in a task: `key:ID` or `user:ID` for an API call (set once the caller
/// is authenticated), `cli` for the command line, `config` for a configuration reload; nil for the
/// server's own work (jobs, deliveries).
public enum EventActor {
    @TaskLocal public static var current: String?
}

public enum TeamEvents {
    public static let all: [any EventPayload.Type] = [Created.self]

    public struct Created: EventPayload {
        public static let type = "team.created"
        public static let summary = "The team was made (`conduit teams create`): its first event."
        public static let scope = Scope.admin
        public static let example = Created(name: "research")

        public var name: String

        public var resource: String? { "team" }
    }
}

public enum UserEvents {
    public static let all: [any EventPayload.Type] = [Created.self, RoleChanged.self, Deleted.self]

    public struct Created: EventPayload {
        public static let type = "user.created"
        public static let summary = "A user was added to the team."
        public static let scope = Scope.admin
        public static let example = Created(userID: "51d0…", role: "member")

        public var userID: String
        public var role: String

        public var resource: String? { "user:\(userID)" }
    }

    public struct RoleChanged: EventPayload {
        public static let type = "user.role_changed"
        public static let summary = "A user's role, and with it what they may do, was changed."
        public static let scope = Scope.admin
        public static let example = RoleChanged(userID: "51d0…", role: "admin")

        public var userID: String
        public var role: String

        public var resource: String? { "user:\(userID)" }
    }

    public struct Deleted: EventPayload {
        public static let type = "user.deleted"
        public static let summary = "A user was deleted: their sessions end and they can no longer log in."
        public static let scope = Scope.admin
        public static let example = Deleted(userID: "51d0…")

        public var userID: String

        public var resource: String? { "user:\(userID)" }
    }
}

/// A key's or the team's limits were set (`conduit keys limits`, `conduit teams limits`).
public struct LimitsChanged: EventPayload {
    public static let type = "limits.changed"
    public static let summary = "A key's or the team's rate limits and monthly budgets were set (they replace the previous ones)."
    public static let scope = Scope.admin
    public static let example = LimitsChanged(keyID: "3c2a…", limits: Limits(requestsPerMinute: 600, monthlyBudgetUSD: 50))

    /// Nil for the team's own limits.
    public var keyID: String?
    public var limits: Limits

    public var resource: String? { keyID.map { "key:\($0)" } ?? "team" }
}

public enum WebhookEvents {
    public static let all: [any EventPayload.Type] = [Created.self, Deleted.self, SecretRotated.self]

    public struct Created: EventPayload {
        public static let type = "webhook.created"
        public static let summary = "A webhook was registered; its signing secret was shown once, to its creator."
        public static let scope = Scope.admin
        public static let example = Created(webhookID: "77ab…", url: "https://hooks.example.com/conduit", topics: ["job.completed"])

        public var webhookID: String
        public var url: String
        public var topics: [String]

        public var resource: String? { "webhook:\(webhookID)" }
    }

    public struct Deleted: EventPayload {
        public static let type = "webhook.deleted"
        public static let summary = "A webhook was deleted with its deliveries."
        public static let scope = Scope.admin
        public static let example = Deleted(webhookID: "77ab…")

        public var webhookID: String

        public var resource: String? { "webhook:\(webhookID)" }
    }

    public struct SecretRotated: EventPayload {
        public static let type = "webhook.secret_rotated"
        public static let summary =
            "A webhook's signing secret was replaced; the old one signs next to it for webhooks.rotation_overlap_seconds."
        public static let scope = Scope.admin
        public static let example = SecretRotated(webhookID: "77ab…")

        public var webhookID: String

        public var resource: String? { "webhook:\(webhookID)" }
    }
}
