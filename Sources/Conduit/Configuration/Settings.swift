import ConduitCore
import ConduitEmbeddings
import ConduitEvents
import ConduitJobs
import ConduitInsights
import Foundation
import Store

extension Setting {
    /// Every key Conduit reads, in the order `conduit config check` prints them. The example
    /// configuration (conduit.example.yaml) documents each; a test checks that it names them all.
    public static let all: [Setting] = [
        .text("server.host", allowed: "a host name or IP address", \.host, parse: nonEmpty, show: { $0 }),
        .integer("server.port", 0...65535, \.port),
        .list(
            "server.features", allowed: "a list of \(NodeFeature.allCases.map(\.rawValue).joined(separator: ", "))", \.features,
            isAllowed: { NodeFeature(rawValue: $0) != nil }),
        .integer("server.max_connections", 1...1_000_000, \.maxConnections),
        .seconds("server.idle_timeout_seconds", \.idleTimeout),
        .seconds("server.request_deadline_seconds", \.requestDeadline),
        Setting(
            key: "server.cors_origins", isList: true, allowed: "a list of origins, scheme://host[:port] with no path",
            isSecret: false, isReloadable: true,
            apply: { values, configuration in
                guard values.allSatisfy(isOrigin) else { return false }
                configuration.corsOrigins = Set(values)
                return true
            },
            current: { $0.corsOrigins.sorted().joined(separator: ",") }, copy: { $1.corsOrigins = $0.corsOrigins }),
        .keyedList(
            "server.latency_objectives", form: "ROUTE=MILLISECONDS entries (/v1/embeddings=200)", reloadable: true,
            \.latencyObjectives,
            parse: { route, text in
                guard route.hasPrefix("/"), let milliseconds = Double(text), milliseconds > 0, milliseconds.isFinite else { return nil }
                return .milliseconds(milliseconds)
            },
            show: { "\($0 / .milliseconds(1))" }),
        .text(
            "data_dir", allowed: "a folder path", \.dataDirectory, parse: { nonEmpty($0).map { URL(filePath: $0) } }, show: \.relativePath),
        .text(
            "database.url", allowed: "postgres://user:password@host:port/database, or the path of an SQLite file",
            \.database, parse: { try? DatabaseLocation($0) }, show: { $0?.description }),
        .flag("auth.enabled", \.authentication),
        .text("auth.admin_key", allowed: "32 to 256 visible ASCII characters", secret: true, \.adminKey, parse: { $0 }, show: { $0 }),
        .text(
            "auth.admin_key_file", allowed: "a readable file holding the admin key", \.adminKey, parse: secretFile,
            show: { _ in nil }),
        .text("auth.jwt_secret", allowed: "at least 32 bytes", secret: true, \.jwtSecret, parse: { $0 }, show: { $0 }),
        .text(
            "auth.jwt_secret_file", allowed: "a readable file holding the JWT signing key", \.jwtSecret, parse: secretFile,
            show: { _ in nil }),
        .text(
            "model.dir", allowed: "a folder in Hugging Face layout", reloadable: true, \.modelDirectory,
            parse: { nonEmpty($0).map { URL(filePath: $0) } },
            show: { $0?.relativePath }),
        .text("model.id", allowed: "a Hugging Face model id, owner/name", reloadable: true, \.modelID, parse: nonEmpty, show: { $0 }),
        .text(
            "model.hub_endpoint", allowed: "an http(s) URL", reloadable: true, \.hubEndpoint,
            parse: { text in URL(string: text).flatMap { ["http", "https"].contains($0.scheme) ? $0 : nil } }, show: \.absoluteString),
        .text("model.served_name", allowed: "a model name", reloadable: true, \.servedModelName, parse: nonEmpty, show: { $0 }),
        .list("model.aliases", allowed: "a list of model names", reloadable: true, \.modelAliases, isAllowed: { !$0.isEmpty }),
        .flag("model.truncate", reloadable: true, \.limits.truncate),
        .integer("scheduler.max_batch_tokens", 1...1_048_576, reloadable: true, \.scheduler.maxBatchTokens),
        .integer("scheduler.max_batch_requests", 1...65_536, reloadable: true, \.scheduler.maxBatchSequences),
        .integer("scheduler.max_background_batch_tokens", 1...1_048_576, reloadable: true, \.scheduler.maxBackgroundBatchTokens),
        .integer("scheduler.max_queued_tokens", 1...1 << 30, reloadable: true, \.scheduler.maxQueuedTokens),
        .integer("scheduler.max_queued_requests", 1...1 << 24, reloadable: true, \.scheduler.maxQueuedRequests),
        .seconds("scheduler.request_timeout_seconds", reloadable: true, \.scheduler.requestTimeout),
        .integer("limits.max_body_bytes", 1...1 << 30, reloadable: true, \.limits.maxBodyBytes),
        .integer("limits.max_inputs", 1...1 << 20, reloadable: true, \.limits.maxInputs),
        .keyedList(
            "usage.prices", form: "MODEL=USD_PER_MILLION_TOKENS entries", reloadable: true, \.prices,
            parse: { _, text in Double(text).flatMap { $0 >= 0 && $0.isFinite ? $0 : nil } }, show: { "\($0)" }),
        .keyedList(
            "jobs.queues", form: "QUEUE=CONCURRENCY entries, the queues this node runs (default=4, embeddings=1, insights=2, webhooks=4)",
            \.jobs.queues,
            parse: { _, text in Int(text).flatMap { (1...256).contains($0) ? $0 : nil } }, show: { "\($0)" }),
        .seconds("jobs.lease_seconds", \.jobs.lease),
        .integer("jobs.retention_days", 1...3650, \.jobs.retentionDays),
        .integer("jobs.max_waiting_per_team", 1...10_000_000, \.jobs.maxWaitingPerTeam),
        .list(
            "request_log.routes", allowed: "a list of route templates starting with / (/v1/embeddings, /v1/admin/keys/{id})",
            reloadable: true, \.requestLog.routes, isAllowed: { $0.hasPrefix("/") }),
        .list("request_log.keys", allowed: "a list of API key ids", reloadable: true, \.requestLog.keys, isAllowed: { !$0.isEmpty }),
        .integer("request_log.retention_days", 1...3650, reloadable: true, \.requestLog.retentionDays),
        .integer("request_log.max_body_bytes", 0...1 << 26, reloadable: true, \.requestLog.maxBodyBytes),
        .list(
            "request_log.redact_fields", allowed: "a list of JSON field names", reloadable: true, \.requestLog.redactedFields,
            isAllowed: { !$0.isEmpty }),
        Setting(
            key: "insights.pipelines_dir", isList: false,
            allowed: "a folder of pipeline files (NAME.yaml), read at start and on every reload", isSecret: false, isReloadable: true,
            apply: { values, configuration in
                guard let folder = nonEmpty(values[0]) else { return false }
                configuration.insights.pipelinesDirectory = URL(filePath: folder)
                return true
            },
            current: { $0.insights.pipelinesDirectory?.relativePath },
            // The pipelines read from the folder go with it, and a change to one of them is a change.
            copy: { $1.insights = $0.insights }, differs: { $0.insights != $1.insights }),
        .text(
            "upstream.base_url", allowed: "the http(s) base URL of an OpenAI-compatible API (https://api.openai.com/v1)",
            reloadable: true, \.upstream.baseURL,
            parse: { text in URL(string: text).flatMap { ["http", "https"].contains($0.scheme) && $0.host != nil ? .some($0) : nil } },
            show: { $0.map(withoutCredentials) }),
        .text(
            "upstream.api_key", allowed: "the upstream's API key", secret: true, reloadable: true, \.upstream.apiKey, parse: { $0 },
            show: { $0 }),
        .text(
            "upstream.api_key_file", allowed: "a readable file holding the upstream's API key", reloadable: true, \.upstream.apiKey,
            parse: secretFile, show: { _ in nil }),
        .seconds("upstream.timeout_seconds", reloadable: true, \.upstream.timeout),
        .integer("upstream.circuit_failures", 1...1000, reloadable: true, \.upstream.circuitFailures),
        .seconds("upstream.circuit_cooldown_seconds", reloadable: true, \.upstream.circuitCooldown),
        .seconds("webhooks.timeout_seconds", reloadable: true, \.webhooks.timeout),
        .flag("webhooks.allow_private_addresses", reloadable: true, \.webhooks.allowPrivateAddresses),
        .seconds("webhooks.rotation_overlap_seconds", reloadable: true, \.webhooks.rotationOverlap),
        .text(
            "logging.level", allowed: "a level, or levels per subsystem: info,Store=debug", reloadable: true, \.logLevel,
            parse: { (try? LogLevels(parsing: $0)) != nil ? $0 : nil }, show: { $0 }),
        .text(
            "logging.format", allowed: "json, logfmt or text", \.logFormat, parse: { ["json", "logfmt", "text"].contains($0) ? $0 : nil },
            show: { $0 }),
        .text(
            "tracing.otlp_endpoint", allowed: "an http(s) URL of an OTLP/HTTP collector (http://localhost:4318), or empty for no tracing",
            \.tracing.endpoint, parse: { $0.isEmpty ? .some(nil) : TracingConfiguration.tracesEndpoint($0).map { .some($0) } },
            show: { $0.map(withoutCredentials) }),
        .text(
            "tracing.otlp_protocol", allowed: "http/protobuf or http/json", \.tracing.encoding,
            parse: { TracingConfiguration.Encoding(rawValue: $0) }, show: \.rawValue),
        .text(
            "tracing.sample_ratio", allowed: "a number from 0 to 1", \.tracing.sampleRatio,
            parse: { Double($0).flatMap { (0...1).contains($0) ? $0 : nil } }, show: { "\($0)" }),
        .text("tracing.service_name", allowed: "a service name", \.tracing.serviceName, parse: nonEmpty, show: { $0 }),
    ]

    public static func named(_ key: String) -> Setting? { all.first { $0.key == key } }
}

private func nonEmpty(_ text: String) -> String? {
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    return trimmed.isEmpty ? nil : trimmed
}

private func isOrigin(_ text: String) -> Bool {
    (text.hasPrefix("https://") || text.hasPrefix("http://")) && !text.hasSuffix("/")
}

/// A URL as shown: a password in it is redacted.
private func withoutCredentials(_ url: URL) -> String {
    guard var parts = URLComponents(url: url, resolvingAgainstBaseURL: false), parts.password != nil else { return url.absoluteString }
    parts.password = "redacted"
    return parts.string ?? url.absoluteString
}

/// A secret kept in a file (a Docker or systemd credential, say); its trailing newline is not part of it.
private func secretFile(_ path: String) -> String? {
    guard let contents = FileManager.default.contents(atPath: path) else { return nil }
    return String(decoding: contents, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}
