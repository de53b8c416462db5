import ArgumentParser
import Foundation
import Logging
import Store

/// Where the store lives, for every command that reads or writes it: the same options as `conduit serve`.
struct DatabaseOptions: ParsableArguments {
    @OptionGroup var data: DataDirectoryOption

    @Option(
        name: .customLong("database-url"),
        help: "postgres://user:password@host:5432/database, or an SQLite file (env CONDUIT_DATABASE_URL; default DATA_DIR/conduit.sqlite).")
    var databaseURL: String?

    func location(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> DatabaseLocation {
        guard let value = databaseURL ?? environment["CONDUIT_DATABASE_URL"] else {
            return .defaultSQLite(in: data.url(environment: environment))
        }
        do {
            return try DatabaseLocation(value)
        } catch let error as StoreError {
            throw ValidationError(error.description)
        }
    }

    /// Opens the store, brings its schema up to date, runs `body`, and closes it.
    func withDatabase<Result>(logger: Logger, _ body: (Database) async throws -> Result) async throws -> Result {
        let database = try await Database.open(try location(), logger: logger)
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
}
