import Foundation
import SQLKit

/// The schema, as an ordered list of versioned steps. A step is never edited once released: a
/// change is a new step. Each statement is written to run on both SQLite and PostgreSQL, except where
/// SQLite cannot alter a table in place and a step gives it statements of its own.
struct Migration: Sendable {
    let version: Int
    let name: String
    let statements: [String]
    var sqliteStatements: [String]? = nil

    func statements(for dialect: Database.Dialect) -> [String] {
        dialect == .sqlite ? sqliteStatements ?? statements : statements
    }
}

enum Schema {
    static let migrations: [Migration] = [
        Migration(
            version: 1, name: "teams, users and API keys",
            statements: [
                """
                CREATE TABLE teams (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    created_at BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE users (
                    id TEXT PRIMARY KEY,
                    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
                    email TEXT NOT NULL UNIQUE,
                    password_hash TEXT NOT NULL,
                    role TEXT NOT NULL,
                    created_at BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE api_keys (
                    id TEXT PRIMARY KEY,
                    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
                    name TEXT NOT NULL,
                    prefix TEXT NOT NULL,
                    secret_hash TEXT NOT NULL UNIQUE,
                    scopes TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    expires_at BIGINT,
                    revoked_at BIGINT,
                    last_used_at BIGINT
                )
                """,
                "CREATE INDEX api_keys_team ON api_keys (team_id)",
            ]),
        Migration(
            version: 2, name: "rate limits and quotas",
            statements: [
                "ALTER TABLE teams ADD COLUMN requests_per_minute BIGINT",
                "ALTER TABLE teams ADD COLUMN tokens_per_minute BIGINT",
                "ALTER TABLE teams ADD COLUMN monthly_tokens BIGINT",
                "ALTER TABLE api_keys ADD COLUMN requests_per_minute BIGINT",
                "ALTER TABLE api_keys ADD COLUMN tokens_per_minute BIGINT",
                "ALTER TABLE api_keys ADD COLUMN monthly_tokens BIGINT",
                """
                CREATE TABLE rate_counters (
                    subject TEXT NOT NULL,
                    window_start BIGINT NOT NULL,
                    requests BIGINT NOT NULL,
                    tokens BIGINT NOT NULL,
                    PRIMARY KEY (subject, window_start)
                )
                """,
            ]),
        Migration(
            version: 3, name: "usage events",
            statements: [
                """
                CREATE TABLE usage_events (
                    id TEXT PRIMARY KEY,
                    team_id TEXT,
                    key_id TEXT,
                    model TEXT NOT NULL,
                    route TEXT NOT NULL,
                    tokens BIGINT NOT NULL,
                    latency_ms BIGINT NOT NULL,
                    status INTEGER NOT NULL,
                    created_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX usage_events_team_time ON usage_events (team_id, created_at)",
            ]),
        Migration(
            version: 4, name: "refresh tokens",
            statements: [
                """
                CREATE TABLE refresh_tokens (
                    id TEXT PRIMARY KEY,
                    family_id TEXT NOT NULL,
                    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    token_hash TEXT NOT NULL UNIQUE,
                    created_at BIGINT NOT NULL,
                    expires_at BIGINT NOT NULL,
                    used_at BIGINT,
                    revoked_at BIGINT
                )
                """,
                "CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id)",
            ]),
        Migration(
            version: 5, name: "refresh tokens by expiry",
            statements: [
                // Every node prunes expired logins once a minute: by index, not by scanning the table.
                "CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at)"
            ]),
        Migration(
            version: 6, name: "request log",
            statements: [
                // Bodies as text: they are JSON, and TEXT is the one type both databases store alike.
                """
                CREATE TABLE request_log (
                    id TEXT PRIMARY KEY,
                    request_id TEXT NOT NULL,
                    team_id TEXT,
                    key_id TEXT,
                    method TEXT NOT NULL,
                    path TEXT NOT NULL,
                    status INTEGER NOT NULL,
                    duration_ms BIGINT NOT NULL,
                    request_body TEXT NOT NULL,
                    response_body TEXT NOT NULL,
                    created_at BIGINT NOT NULL
                )
                """,
                // A client may send the same x-request-id twice: looked up by it, not keyed by it.
                "CREATE INDEX request_log_request ON request_log (request_id)",
                "CREATE INDEX request_log_time ON request_log (created_at)",
            ]),
        Migration(
            version: 7, name: "job queue",
            statements: [
                // Times in milliseconds: retries and leases are shorter than a second in tests, and seconds
                // would make every job of a second tie.
                """
                CREATE TABLE jobs (
                    id TEXT PRIMARY KEY,
                    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
                    kind TEXT NOT NULL,
                    queue TEXT NOT NULL,
                    state TEXT NOT NULL,
                    priority INTEGER NOT NULL,
                    input TEXT NOT NULL,
                    result TEXT,
                    output TEXT,
                    errors TEXT NOT NULL,
                    attempt INTEGER NOT NULL,
                    max_attempts INTEGER NOT NULL,
                    run_at BIGINT NOT NULL,
                    expires_at BIGINT,
                    created_at BIGINT NOT NULL,
                    attempted_at BIGINT,
                    finished_at BIGINT,
                    lease_expires_at BIGINT,
                    locked_by TEXT,
                    idempotency_key TEXT,
                    trace_context TEXT,
                    progress_done BIGINT NOT NULL,
                    progress_total BIGINT
                )
                """,
                // What workers ask for: the due jobs of a queue, most urgent first.
                "CREATE INDEX jobs_due ON jobs (queue, state, priority, run_at)",
                "CREATE INDEX jobs_team ON jobs (team_id, created_at)",
                "CREATE INDEX jobs_lease ON jobs (state, lease_expires_at)",
                "CREATE UNIQUE INDEX jobs_idempotency ON jobs (team_id, idempotency_key) WHERE idempotency_key IS NOT NULL",
            ]),
        Migration(
            version: 8, name: "conversations, insights and events",
            statements: [
                """
                CREATE TABLE conversations (
                    id TEXT PRIMARY KEY,
                    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
                    pipeline TEXT NOT NULL,
                    messages TEXT NOT NULL,
                    metadata TEXT NOT NULL,
                    status TEXT NOT NULL,
                    reason TEXT,
                    job_id TEXT NOT NULL,
                    created_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX conversations_team ON conversations (team_id, created_at)",
                // One insight per conversation: the unique key is the ledger that makes a rerun of its job
                // (a crash after the write, before the job completed) store nothing twice.
                """
                CREATE TABLE insights (
                    id TEXT PRIMARY KEY,
                    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
                    conversation_id TEXT NOT NULL UNIQUE REFERENCES conversations(id) ON DELETE CASCADE,
                    job_id TEXT NOT NULL,
                    pipeline TEXT NOT NULL,
                    pipeline_version INTEGER NOT NULL,
                    content_hash TEXT NOT NULL,
                    source TEXT NOT NULL,
                    analysis TEXT NOT NULL,
                    embedding TEXT,
                    embedding_model TEXT,
                    created_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX insights_team ON insights (team_id, created_at)",
                // The exact cache: an analysis of the same text by the same pipeline version.
                "CREATE INDEX insights_content ON insights (team_id, content_hash)",
                "CREATE INDEX insights_recent ON insights (team_id, pipeline, pipeline_version, embedding_model, created_at)",
                """
                CREATE TABLE insight_labels (
                    insight_id TEXT NOT NULL REFERENCES insights(id) ON DELETE CASCADE,
                    team_id TEXT NOT NULL,
                    label TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    PRIMARY KEY (insight_id, label)
                )
                """,
                "CREATE INDEX insight_labels_team ON insight_labels (team_id, label, created_at)",
                // An outbox: events are written in the transaction of what they announce, so none is lost or
                // announced for something that was rolled back.
                """
                CREATE TABLE events (
                    id TEXT PRIMARY KEY,
                    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
                    topic TEXT NOT NULL,
                    payload TEXT NOT NULL,
                    created_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX events_team ON events (team_id, created_at)",
            ]),
        Migration(
            version: 9, name: "webhooks",
            statements: [
                // The signing secret is kept as it is, not hashed: every delivery is signed with it. The previous
                // secret of a rotation keeps signing (alongside) until `previous_secret_expires_at`.
                """
                CREATE TABLE webhooks (
                    id TEXT PRIMARY KEY,
                    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
                    url TEXT NOT NULL,
                    topics TEXT NOT NULL,
                    description TEXT NOT NULL,
                    secret TEXT NOT NULL,
                    previous_secret TEXT,
                    previous_secret_expires_at BIGINT,
                    created_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX webhooks_team ON webhooks (team_id, created_at)",
                // One row per event and webhook, made in the event's transaction; its job does the sending.
                """
                CREATE TABLE webhook_deliveries (
                    id TEXT PRIMARY KEY,
                    webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
                    team_id TEXT NOT NULL,
                    event_id TEXT NOT NULL,
                    topic TEXT NOT NULL,
                    job_id TEXT NOT NULL,
                    status TEXT NOT NULL,
                    attempts INTEGER NOT NULL,
                    response_status INTEGER,
                    last_error TEXT,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at)",
            ]),
        Migration(
            version: 10, name: "one time unit: milliseconds in every table",
            statements: [
                // The tables of versions 1 to 6 kept seconds; the later ones milliseconds. Every time is now
                // milliseconds since 1970, so one conversion (StoreTime) serves every table.
                "UPDATE teams SET created_at = created_at * 1000",
                "UPDATE users SET created_at = created_at * 1000",
                """
                UPDATE api_keys SET created_at = created_at * 1000, expires_at = expires_at * 1000,
                                    revoked_at = revoked_at * 1000, last_used_at = last_used_at * 1000
                """,
                // Window starts: an open window keeps its counts.
                "UPDATE rate_counters SET window_start = window_start * 1000",
                "UPDATE usage_events SET created_at = created_at * 1000",
                """
                UPDATE refresh_tokens SET created_at = created_at * 1000, expires_at = expires_at * 1000,
                                          used_at = used_at * 1000, revoked_at = revoked_at * 1000
                """,
                "UPDATE request_log SET created_at = created_at * 1000",
                // Only the rows of earlier runs: a run that applies 1 to 10 at once wrote milliseconds already.
                "UPDATE schema_migrations SET applied_at = applied_at * 1000 WHERE applied_at < 100000000000",
            ]),
        Migration(
            version: 11, name: "the operator scope, for /metrics and /v1/admin/debug",
            statements: [
                // The server-wide routes needed `admin` before; the bootstrap admin key keeps them.
                // Only the first one of the team `default`: any team's admin could have named a key so.
                """
                UPDATE api_keys SET scopes = scopes || ' operator'
                WHERE id = (SELECT k.id FROM api_keys k JOIN teams t ON t.id = k.team_id
                            WHERE t.name = 'default' AND k.name = 'bootstrap admin' AND k.scopes LIKE '%admin%'
                            ORDER BY k.created_at LIMIT 1)
                """
            ]),
        Migration(
            version: 12, name: "emails unique within a team, not across the server",
            statements: [
                // Unique across the server, a 409 told one team's admin that an email had an account in
                // another team. An email may now have an account in several teams; logging in names the team
                // when the password matches more than one.
                "ALTER TABLE users DROP CONSTRAINT users_email_key",
                "CREATE UNIQUE INDEX users_team_email ON users (team_id, email)",
                "CREATE INDEX users_email ON users (email)",
            ],
            sqliteStatements: [
                // SQLite cannot drop a column's UNIQUE: the table is rebuilt. Dropping it would delete the
                // refresh tokens through their cascade, so they are kept aside and put back.
                """
                CREATE TABLE users_v12 (
                    id TEXT PRIMARY KEY,
                    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
                    email TEXT NOT NULL,
                    password_hash TEXT NOT NULL,
                    role TEXT NOT NULL,
                    created_at BIGINT NOT NULL
                )
                """,
                "INSERT INTO users_v12 (id, team_id, email, password_hash, role, created_at) SELECT id, team_id, email, password_hash, role, created_at FROM users",
                "CREATE TEMP TABLE refresh_tokens_v12 AS SELECT * FROM refresh_tokens",
                "DROP TABLE users",
                "ALTER TABLE users_v12 RENAME TO users",
                "INSERT INTO refresh_tokens SELECT * FROM refresh_tokens_v12",
                "DROP TABLE refresh_tokens_v12",
                "CREATE UNIQUE INDEX users_team_email ON users (team_id, email)",
                "CREATE INDEX users_email ON users (email)",
            ]),
        Migration(
            version: 13, name: "the chat gateway's exact cache",
            statements: [
                """
                CREATE TABLE chat_cache (
                    team_id TEXT NOT NULL,
                    key TEXT NOT NULL,
                    body TEXT NOT NULL,
                    deployment TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    expires_at BIGINT NOT NULL,
                    PRIMARY KEY (team_id, key)
                )
                """,
                "CREATE INDEX chat_cache_expiry ON chat_cache (expires_at)",
            ]),
        Migration(
            version: 14, name: "monthly budgets in US dollars, and the thresholds each period crossed",
            statements: [
                "ALTER TABLE teams ADD COLUMN monthly_budget_usd DOUBLE PRECISION",
                "ALTER TABLE api_keys ADD COLUMN monthly_budget_usd DOUBLE PRECISION",
                // One row per budget, period and threshold: the event that announces a crossing is recorded once.
                """
                CREATE TABLE budget_alerts (
                    subject TEXT NOT NULL,
                    window_start BIGINT NOT NULL,
                    percent INTEGER NOT NULL,
                    created_at BIGINT NOT NULL,
                    PRIMARY KEY (subject, window_start, percent)
                )
                """,
            ]),
        Migration(
            version: 15, name: "a request's cost where it was priced when served",
            statements: ["ALTER TABLE usage_events ADD COLUMN cost_usd DOUBLE PRECISION"]),
        Migration(
            version: 16, name: "the key that submitted a job, whose limits its work counts against",
            statements: ["ALTER TABLE jobs ADD COLUMN key_id TEXT"]),
        Migration(
            version: 17, name: "the chat gateway's semantic cache",
            statements: [
                """
                CREATE TABLE chat_semantic_cache (
                    id TEXT PRIMARY KEY,
                    team_id TEXT NOT NULL,
                    context TEXT NOT NULL,
                    embedding_model TEXT NOT NULL,
                    embedding TEXT NOT NULL,
                    prompt TEXT NOT NULL,
                    body TEXT NOT NULL,
                    deployment TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    expires_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX chat_semantic_cache_lookup ON chat_semantic_cache (team_id, context, embedding_model, created_at)",
                "CREATE INDEX chat_semantic_cache_expiry ON chat_semantic_cache (expires_at)",
            ]),
        Migration(
            version: 18, name: "events numbered per team, and the resource each is about",
            statements: [
                "ALTER TABLE events ADD COLUMN seq BIGINT",
                "ALTER TABLE events ADD COLUMN resource TEXT",
                // The events recorded before, numbered in the order they were listed in (in one pass: both
                // databases take UPDATE … FROM and window functions).
                """
                UPDATE events SET seq = numbered.position FROM (
                    SELECT id, ROW_NUMBER() OVER (PARTITION BY team_id ORDER BY created_at, id) AS position FROM events
                ) AS numbered WHERE numbered.id = events.id
                """,
                "CREATE UNIQUE INDEX events_team_seq ON events (team_id, seq)",
                """
                CREATE TABLE event_sequences (
                    team_id TEXT PRIMARY KEY REFERENCES teams(id) ON DELETE CASCADE,
                    last_seq BIGINT NOT NULL
                )
                """,
                "INSERT INTO event_sequences (team_id, last_seq) SELECT team_id, MAX(seq) FROM events GROUP BY team_id",
            ]),
        Migration(
            version: 19, name: "the API version a key is pinned to",
            statements: ["ALTER TABLE api_keys ADD COLUMN api_version TEXT"]),
        Migration(
            version: 20, name: "WebSocket tickets",
            statements: [
                """
                CREATE TABLE ws_tickets (
                    id TEXT PRIMARY KEY,
                    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
                    key_id TEXT REFERENCES api_keys(id) ON DELETE CASCADE,
                    user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
                    ticket_hash TEXT NOT NULL UNIQUE,
                    created_at BIGINT NOT NULL,
                    expires_at BIGINT NOT NULL,
                    used_at BIGINT
                )
                """,
                "CREATE INDEX ws_tickets_expiry ON ws_tickets (expires_at)",
            ]),
        Migration(
            version: 21, name: "who caused each event",
            statements: ["ALTER TABLE events ADD COLUMN actor TEXT"]),
        Migration(
            version: 22, name: "the agent platform: agents' versions, projects, their transitions, specifications",
            statements: [
                """
                CREATE TABLE agent_versions (
                    agent TEXT NOT NULL,
                    version BIGINT NOT NULL,
                    content_hash TEXT NOT NULL,
                    declaration TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    PRIMARY KEY (agent, version),
                    UNIQUE (agent, content_hash)
                )
                """,
                """
                CREATE TABLE projects (
                    id TEXT PRIMARY KEY,
                    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
                    name TEXT NOT NULL,
                    description TEXT NOT NULL,
                    domain TEXT NOT NULL,
                    state TEXT NOT NULL,
                    version BIGINT NOT NULL,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX projects_team ON projects (team_id, created_at)",
                """
                CREATE TABLE project_transitions (
                    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
                    version BIGINT NOT NULL,
                    from_state TEXT NOT NULL,
                    to_state TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    actor TEXT,
                    created_at BIGINT NOT NULL,
                    PRIMARY KEY (project_id, version)
                )
                """,
                """
                CREATE TABLE specifications (
                    id TEXT PRIMARY KEY,
                    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
                    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
                    key TEXT NOT NULL,
                    title TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    UNIQUE (project_id, key)
                )
                """,
                """
                CREATE TABLE specification_versions (
                    specification_id TEXT NOT NULL REFERENCES specifications(id) ON DELETE CASCADE,
                    version BIGINT NOT NULL,
                    base_version BIGINT,
                    status TEXT NOT NULL,
                    body TEXT NOT NULL,
                    sections TEXT NOT NULL,
                    summary TEXT NOT NULL,
                    session_id TEXT,
                    turn_id TEXT,
                    agent TEXT,
                    agent_version BIGINT,
                    created_at BIGINT NOT NULL,
                    promoted_at BIGINT,
                    superseded_by BIGINT,
                    PRIMARY KEY (specification_id, version)
                )
                """,
                // The database, not the code, keeps one current version per specification (a project's key):
                // two promotes at once cannot both win.
                "CREATE UNIQUE INDEX specification_versions_current ON specification_versions (specification_id) WHERE status = 'current'",
            ]),
        Migration(
            version: 23, name: "the agent platform's sessions and their turns",
            statements: [
                """
                CREATE TABLE agent_sessions (
                    id TEXT PRIMARY KEY,
                    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
                    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
                    title TEXT NOT NULL,
                    concurrency TEXT NOT NULL,
                    status TEXT NOT NULL,
                    active_agent TEXT,
                    pinned TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    ended_at BIGINT
                )
                """,
                "CREATE INDEX agent_sessions_project ON agent_sessions (project_id, created_at)",
                """
                CREATE TABLE turns (
                    id TEXT PRIMARY KEY,
                    session_id TEXT NOT NULL REFERENCES agent_sessions(id) ON DELETE CASCADE,
                    team_id TEXT NOT NULL,
                    seq BIGINT NOT NULL,
                    status TEXT NOT NULL,
                    input TEXT NOT NULL,
                    agent TEXT,
                    agent_version BIGINT,
                    routing TEXT NOT NULL,
                    output TEXT NOT NULL,
                    prompt_tokens BIGINT,
                    completion_tokens BIGINT,
                    cost_usd DOUBLE PRECISION,
                    error TEXT,
                    idempotency_key TEXT,
                    seen_at BIGINT,
                    created_at BIGINT NOT NULL,
                    started_at BIGINT,
                    finished_at BIGINT,
                    UNIQUE (session_id, seq),
                    UNIQUE (session_id, idempotency_key)
                )
                """,
                // The database keeps one running turn per session: two requests at once cannot both start one.
                "CREATE UNIQUE INDEX turns_one_running ON turns (session_id) WHERE status = 'running'",
            ]),
    ]

    static var latestVersion: Int { migrations.last?.version ?? 0 }
}

extension Database {
    /// Brings the schema to the latest version, applying the missing steps in one transaction, and
    /// returns the versions applied. Safe to run from several processes at once: on PostgreSQL an
    /// advisory lock, on SQLite the write lock, lets one of them migrate while the others wait and
    /// then find nothing to do.
    @discardableResult
    public func migrate() async throws -> [Int] {
        try await migrate(upTo: Schema.latestVersion)
    }

    /// Applies the missing steps up to `target` only (tests migrate from an older version this way).
    @discardableResult
    func migrate(upTo target: Int) async throws -> [Int] {
        let dialect = self.dialect
        return try await transactionUnbounded { sql in
            if dialect == .postgres {
                try await sql.raw("SELECT pg_advisory_xact_lock(\(bind: Self.migrationLockKey))").run()
            }
            try await sql.raw(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version BIGINT PRIMARY KEY,
                    name TEXT NOT NULL,
                    applied_at BIGINT NOT NULL
                )
                """
            ).run()
            let applied = Set(
                try await sql.raw("SELECT version FROM schema_migrations").all().map { try $0.decode(column: "version", as: Int.self) })
            if let newest = applied.max(), newest > Schema.latestVersion {
                throw StoreError.schemaTooNew(database: newest, known: Schema.latestVersion)
            }
            var done: [Int] = []
            for migration in Schema.migrations where !applied.contains(migration.version) && migration.version <= target {
                for statement in migration.statements(for: dialect) { try await sql.raw(SQLQueryString(statement)).run() }
                try await sql.raw(
                    """
                    INSERT INTO schema_migrations (version, name, applied_at)
                    VALUES (\(bind: migration.version), \(bind: migration.name), \(bind: StoreTime.now()))
                    """
                ).run()
                done.append(migration.version)
            }
            return done
        }
    }

    /// The schema version the database is at (0 before any migration).
    public func schemaVersion() async throws -> Int {
        try await read { sql in
            let exists: Bool
            switch self.dialect {
            case .sqlite:
                exists =
                    try await sql.raw("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").first() != nil
            case .postgres:
                exists =
                    try await sql.raw("SELECT to_regclass('schema_migrations') IS NOT NULL AS present").first()?
                    .decode(column: "present", as: Bool.self) ?? false
            }
            guard exists else { return 0 }
            return try await sql.raw("SELECT MAX(version) AS version FROM schema_migrations").first()?
                .decode(column: "version", as: Int?.self) ?? 0
        }
    }

    /// Any fixed number: every Conduit process that migrates takes the same lock.
    private static let migrationLockKey: Int64 = 0x636F_6E64_7569_7401
}
