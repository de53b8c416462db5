import Foundation
import Logging
import NIOPosix
import NIOSSL
import PostgresKit
import SQLKit
import SQLiteKit
import Synchronization
import Tracing

/// A connection to the store, SQLite or PostgreSQL, behind one SQL interface (SQLKit) so that
/// every query is written once, with bound parameters only.
///
/// SQLite: one connection in WAL mode, its statements and transactions taken in turn (SQLite lets
/// one writer in at a time anyway; other processes on the same file wait up to the busy timeout).
/// PostgreSQL: a connection pool (PostgresNIO's `PostgresClient`) that the database object runs and
/// watches (``PostgresPool``).
///
/// Every call has a deadline (``callTimeout``): past it, or at once while the database is known to be
/// out of reach, it throws ``StoreError/unavailable(_:)`` and is abandoned, so that no request, worker
/// or shutdown waits on a server that does not answer.
public final class Database: Sendable {
    public enum Dialect: Sendable, Equatable {
        case sqlite, postgres

        /// OpenTelemetry's `db.system.name`.
        var systemName: String {
            switch self {
            case .sqlite: "sqlite"
            case .postgres: "postgresql"
            }
        }
    }

    public let dialect: Dialect
    public let location: DatabaseLocation
    /// bcrypt's work factor for the passwords this store hashes, and for the decoy an unknown email is
    /// checked against (so that it takes as long as a known one).
    public let passwordCost: UInt8
    /// How long one call (a statement, or a whole transaction) to PostgreSQL may take before it is abandoned;
    /// an abandoned call's outcome is unknown to its caller, as with any network timeout: it may still commit.
    /// (On SQLite the busy timeout bounds the one wait that could last: a lock held by another process.)
    public let callTimeout: Duration
    /// Keys recently authenticated through this store (`auth.key_cache_seconds`).
    public let authenticatedKeys = AuthenticatedKeys()
    private let sealer = Mutex(SecretSealer.none)
    /// Seals the secrets the store keeps to give back (webhooks' signing secrets); set at start from the
    /// configuration (`webhooks.secrets_key_file`).
    public var secretSealer: SecretSealer {
        get { sealer.withLock { $0 } }
        set { sealer.withLock { $0 = newValue } }
    }
    let backend: Backend
    private let logger: Logger
    /// Set when a ROLLBACK failed on SQLite's one connection: its transaction may still be open, and
    /// whatever ran next would run inside it (and be lost with it). The next caller ends it first.
    private let sqliteTransactionMayBeOpen = Atomic<Bool>(false)
    /// On SQLite: the teams whose events each transaction committed, for this process's live streams.
    let committedEvents = CommittedEvents()

    enum Backend: Sendable {
        case sqlite(SQLiteConnection, AsyncLock, NIOThreadPool)
        case postgres(PostgresPool)
    }

    private init(
        dialect: Dialect, location: DatabaseLocation, backend: Backend, passwordCost: UInt8, callTimeout: Duration, logger: Logger
    ) {
        self.dialect = dialect
        self.location = location
        self.passwordCost = passwordCost
        self.callTimeout = callTimeout
        self.backend = backend
        self.logger = logger
    }

    /// Opens the database at `location` (creating an SQLite file and its folder when missing).
    /// `passwordCost` is bcrypt's work factor (12: about a quarter of a second a hash on one core of a
    /// 2020s server; tests use less). `callTimeout` bounds each call (``callTimeout``). Call ``close()`` when done.
    public static func open(
        _ location: DatabaseLocation, passwordCost: UInt8 = 12, callTimeout: Duration = .seconds(10), logger: Logger
    ) async throws -> Database {
        switch location {
        case .sqlite(let path):
            try FileManager.default.createDirectory(
                at: URL(filePath: path).deletingLastPathComponent(), withIntermediateDirectories: true)
            // A thread of its own: SQLite blocks its thread while it waits for another connection's lock,
            // and on a shared pool that wait could hold up the very connection it waits for.
            let thread = NIOThreadPool(numberOfThreads: 1)
            thread.start()
            let connection: SQLiteConnection
            do {
                connection = try await SQLiteConnection.open(
                    storage: .file(path: path), threadPool: thread, logger: logger, on: MultiThreadedEventLoopGroup.singleton.any())
            } catch {
                await Self.closeSQLite(nil, thread: thread)
                throw error
            }
            do {
                let sql = connection.sql(queryLogLevel: nil)
                // busy_timeout first: another connection (the CLI beside a running server) then waits for
                // the lock instead of failing, even while this one switches to WAL, in which readers do not
                // block the writer.
                for pragma in [
                    "PRAGMA busy_timeout = 10000", "PRAGMA journal_mode = WAL", "PRAGMA foreign_keys = ON", "PRAGMA synchronous = NORMAL",
                ] {
                    try await sql.raw(SQLQueryString(pragma)).run()
                }
            } catch {
                await Self.closeSQLite(connection, thread: thread)
                throw error
            }
            return Database(
                dialect: .sqlite, location: location, backend: .sqlite(connection, AsyncLock(), thread), passwordCost: passwordCost,
                callTimeout: callTimeout, logger: logger)
        case .postgres(let url):
            let core = try SQLPostgresConfiguration(url: url).coreConfiguration
            // The URL's sslmode decides, as libpq's does: require, prefer (the default: TLS when the server offers it), or disable.
            let tls: PostgresClient.Configuration.TLS =
                switch (core.tls.isEnforced, core.tls.isAllowed, core.tls.sslContext) {
                case (true, _, let context?): .require(context.configuration)
                case (_, true, let context?): .prefer(context.configuration)
                default: .disable
                }
            var clientConfiguration = PostgresClient.Configuration(
                host: core.host ?? "localhost", port: core.port ?? 5432, username: core.username, password: core.password,
                database: core.database, tls: tls)
            clientConfiguration.options.maximumConnections = 16
            let database = Database(
                dialect: .postgres, location: location,
                backend: .postgres(PostgresPool(configuration: clientConfiguration, probeConfiguration: core, logger: logger)),
                passwordCost: passwordCost, callTimeout: callTimeout, logger: logger)
            do {
                try await database.read { try await $0.raw("SELECT 1").run() }
            } catch {
                await database.close()
                throw error
            }
            return database
        }
    }

    /// Opens the database at `location`, brings its schema up to date, runs `body`, and closes it,
    /// whether `body` returns or throws.
    public static func withMigrated<Result>(
        _ location: DatabaseLocation, passwordCost: UInt8 = 12, callTimeout: Duration = .seconds(10), logger: Logger,
        _ body: (Database) async throws -> Result
    ) async throws -> Result {
        let database = try await open(location, passwordCost: passwordCost, callTimeout: callTimeout, logger: logger)
        do {
            try await database.migrate()
            let result = try await body(database)
            await database.close()
            return result
        } catch {
            await database.close()
            throw error
        }
    }

    /// Runs `body` outside any explicit transaction (each statement commits on its own).
    public func read<Result: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> Result) async throws -> Result {
        try await traced("db read") { try await withinDeadline(callTimeout) { try await self.readUntraced(body) } }
    }

    /// ``read(_:)`` without a deadline: for migrations, which may take as long as the data needs.
    func readUnbounded<Result: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> Result) async throws -> Result {
        try await withinDeadline(nil) { try await self.readUntraced(body) }
    }

    private func readUntraced<Result: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> Result) async throws -> Result {
        switch backend {
        case .sqlite(let connection, let lock, _):
            return try await mappingBusy {
                try await lock.withLock {
                    // The caller may have given up while this call waited for the lock.
                    try Task.checkCancellation()
                    let sql = connection.sql(queryLogLevel: nil)
                    try await endTransactionLeftOpen(sql)
                    return try await body(sql)
                }
            }
        case .postgres(let pool):
            let client = pool.client
            do {
                return try await client.withConnection { connection in
                    try Task.checkCancellation()
                    return try await body(connection.sql(queryLogLevel: nil))
                }
            } catch  where pool.isConnectionFailure(error, on: client) {
                throw StoreError.unavailable("\(error)")
            }
        }
    }

    /// On PostgreSQL, `body` abandoned with ``StoreError/unavailable(_:)`` once `timeout` passes or while the
    /// database is known to be down; a slow call has the server probed meanwhile.
    private func withinDeadline<Result: Sendable>(_ timeout: Duration?, _ body: @escaping @Sendable () async throws -> Result)
        async throws -> Result
    {
        // SQLite has no server to wait on: its one connection's queue always moves, and a lock held by another
        // process is bounded by the busy timeout (then `unavailable`), so its calls run as they are, in the caller's task.
        guard case .postgres(let pool) = backend else { return try await body() }
        if let outage = pool.outage { throw StoreError.unavailable(outage) }
        return try await withDeadline(
            watch: { waited in
                if let outage = pool.outage { return StoreError.unavailable(outage) }
                if waited >= PostgresPool.suspectAfter { pool.suspect() }
                if let timeout, waited >= timeout {
                    pool.suspect(callTimedOut: true)
                    return StoreError.unavailable("no answer within \(timeout)")
                }
                return nil
            }, body)
    }

    /// Runs `body` in one transaction: committed when it returns, rolled back when it throws. On SQLite
    /// the transaction takes the write lock at once (`BEGIN IMMEDIATE`), so two writers never deadlock
    /// upgrading a read lock.
    public func transaction<Result: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> Result) async throws
        -> Result
    {
        try await traced("db transaction") { try await withinDeadline(callTimeout) { try await self.transactionUntraced(body) } }
    }

    /// ``transaction(_:)`` without a deadline: for migrations.
    func transactionUnbounded<Result: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> Result) async throws
        -> Result
    {
        try await withinDeadline(nil) { try await self.transactionUntraced(body) }
    }

    /// A client span for a call made inside a traced operation (a request); the calls of background
    /// work (usage batches, housekeeping) would each start a trace of their own, so they get none.
    private func traced<Result>(_ operation: String, _ body: () async throws -> Result) async throws -> Result {
        guard InstrumentationContext.current != nil else { return try await body() }
        return try await withSpan(operation, ofKind: .client) { span in
            span.updateAttributes { $0["db.system.name"] = dialect.systemName }
            return try await body()
        }
    }

    private func transactionUntraced<Result: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> Result) async throws -> Result {
        switch backend {
        case .sqlite(let connection, let lock, _):
            return try await mappingBusy {
                try await lock.withLock {
                    try Task.checkCancellation()
                    let sql = connection.sql(queryLogLevel: nil)
                    try await endTransactionLeftOpen(sql)
                    try await sql.raw("BEGIN IMMEDIATE").run()
                    do {
                        return try await committedEvents.announcing {
                            let result = try await body(sql)
                            try await sql.raw("COMMIT").run()
                            return result
                        }
                    } catch {
                        do {
                            try await sql.raw("ROLLBACK").run()
                        } catch let rollbackError {
                            logger.error(
                                "rollback failed; the next statement ends the transaction first", metadata: ["error": "\(rollbackError)"])
                            sqliteTransactionMayBeOpen.store(true, ordering: .relaxed)
                        }
                        throw error
                    }
                }
            }
        case .postgres(let pool):
            let client = pool.client
            do {
                do {
                    return try await client.withTransaction(logger: logger) { try await body($0.sql(queryLogLevel: nil)) }
                } catch let error as PostgresTransactionError {
                    // Callers catch their own errors (a conflict, a missing row), not the wrapper around them.
                    throw error.closureError ?? error.beginError ?? error.commitError ?? error
                }
            } catch  where pool.isConnectionFailure(error, on: client) {
                throw StoreError.unavailable("\(error)")
            }
        }
    }

    /// SQLite's lock still held by another process after the busy timeout: the store is unavailable
    /// for now, not broken.
    private func mappingBusy<Result>(_ body: () async throws -> Result) async throws -> Result {
        do {
            return try await body()
        } catch let error as SQLiteError where [.busy, .busyTimeout, .locked].contains(error.reason) {
            throw StoreError.unavailable("\(error)")
        }
    }

    /// Ends the transaction a failed ROLLBACK may have left open (called with the SQLite lock held).
    /// "No transaction is active" means it had ended after all; any other failure is thrown, so that
    /// nothing runs inside a transaction that is doomed.
    private func endTransactionLeftOpen(_ sql: any SQLDatabase) async throws {
        guard sqliteTransactionMayBeOpen.load(ordering: .relaxed) else { return }
        do {
            try await sql.raw("ROLLBACK").run()
        } catch let error as SQLiteError where error.message.contains("no transaction is active") {}
        sqliteTransactionMayBeOpen.store(false, ordering: .relaxed)
        logger.warning("ended the transaction a failed rollback had left open")
    }

    /// For tests: behave as after a failed ROLLBACK.
    func simulateFailedRollback() { sqliteTransactionMayBeOpen.store(true, ordering: .relaxed) }

    public func close() async {
        switch backend {
        case .sqlite(let connection, _, let thread):
            await Self.closeSQLite(connection, thread: thread)
        case .postgres(let pool):
            await pool.close()
        }
    }

    /// Closes a SQLite connection and its thread even when the calling task is cancelled (a task group
    /// whose sibling failed, a request whose client left): the thread pool refuses work submitted from a
    /// cancelled task, and the connection would be left open, its file and locks held.
    private static func closeSQLite(_ connection: SQLiteConnection?, thread: NIOThreadPool) async {
        await Task {
            try? await connection?.close()
            try? await thread.shutdownGracefully()
        }.value
    }
}
