import ArgumentParser
import ConduitEmbeddings
import Foundation
import Logging
import Store

/// Where the store lives: the same option for `conduit serve` and every command that reads or writes the store.
struct DatabaseOptions: ParsableArguments {
    @Option(
        name: .customLong("database-url"),
        help: "postgres://user:password@host:5432/database, or an SQLite file (env CONDUIT_DATABASE_URL; default DATA_DIR/conduit.sqlite).")
    var databaseURL: String?

    /// The location named by the option or the environment; nil for the default SQLite file in the data folder.
    func location(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> DatabaseLocation? {
        guard let value = databaseURL ?? environment["CONDUIT_DATABASE_URL"] else { return nil }
        do {
            return try DatabaseLocation(value)
        } catch let error as StoreError {
            throw ValidationError(error.description)
        }
    }

    func location(dataDirectory: DataDirectoryOption) throws -> DatabaseLocation {
        try location() ?? .defaultSQLite(in: dataDirectory.url(environment: ProcessInfo.processInfo.environment))
    }
}

/// The options of the administrative commands: the store, and the data folder that holds it by default.
struct StoreOptions: ParsableArguments {
    @OptionGroup var data: DataDirectoryOption
    @OptionGroup var database: DatabaseOptions

    func location() throws -> DatabaseLocation { try database.location(dataDirectory: data) }

    /// Opens the store, brings its schema up to date, runs `body`, and closes it.
    func withDatabase<Result>(logger: Logger, _ body: (Database) async throws -> Result) async throws -> Result {
        // What a command changes is recorded as the command line's doing (the audit trail).
        try await EventActor.$current.withValue("cli") { try await Database.withMigrated(try location(), logger: logger, body) }
    }
}

extension TeamsRepository {
    /// The team with this id or name, or a usage error naming it.
    func require(_ idOrName: String) async throws -> Team {
        guard let team = try await find(idOrName) else { throw ValidationError("no team '\(idOrName)'") }
        return team
    }
}
