extension RequestLogConfiguration {
    /// `request_log.*`: which requests are kept for `conduit replay`, and for how long.
    package static let settings: [Setting<RequestLogConfiguration>] = [
        .list(
            "request_log.routes", allowed: "a list of route templates starting with / (/v1/embeddings, /v1/admin/keys/{id})",
            reloadable: true, \.routes, help: "route templates whose requests are kept", isAllowed: { $0.hasPrefix("/") }),
        .list(
            "request_log.keys", allowed: "a list of API key ids", reloadable: true, \.keys, help: "API key ids whose every request is kept",
            isAllowed: { !$0.isEmpty }),
        .integer(
            "request_log.retention_days", 1...3650, reloadable: true, \.retentionDays,
            help: "days a logged request is kept, then deleted (every node prunes once a minute)"),
        .integer(
            "request_log.max_body_bytes", 0...1 << 26, reloadable: true, \.maxBodyBytes,
            help: "a longer body is kept as its size only (and cannot be replayed)"),
        .list(
            "request_log.redact_fields", allowed: "a list of JSON field names", reloadable: true, \.redactedFields,
            help: "more JSON field names whose values are redacted, at any depth", isAllowed: { !$0.isEmpty }),
    ]
}
