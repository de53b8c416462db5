import Foundation
import Logging
import SQLKit
import Store
import Testing

/// The two databases every store test runs on.
public enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite, postgres
    public var testDescription: String { rawValue }
}

/// A fresh, empty database of each kind: an SQLite file in a new temporary folder, or a new
/// database on the PostgreSQL server that `scripts/test` starts (`CONDUIT_TEST_POSTGRES_URL`).
public enum TestDatabase {
    public static var logger: Logger {
        var logger = Logger(label: "conduit-store-test")
        logger.logLevel = .warning
        return logger
    }

    public static var postgresURL: String? { ProcessInfo.processInfo.environment["CONDUIT_TEST_POSTGRES_URL"] }

    /// A location for a new, empty database.
    public static func makeLocation(_ backend: Backend) async throws -> DatabaseLocation {
        switch backend {
        case .sqlite:
            let folder = FileManager.default.temporaryDirectory.appending(path: "conduit-store-\(UUID().uuidString)")
            return .sqlite(path: folder.appending(path: "conduit.sqlite").path)
        case .postgres:
            guard let url = postgresURL, var components = URLComponents(string: url) else {
                throw SetupError(
                    "CONDUIT_TEST_POSTGRES_URL is not set: run the tests with scripts/test, which starts a PostgreSQL server")
            }
            let name = "conduit_test_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased())"
            // CREATE DATABASE copies a template under a lock: with every test making one at once, it waits its turn.
            let server = try await Database.open(.postgres(url: url), callTimeout: .seconds(300), logger: logger)
            do {
                // A database name cannot be a bound parameter; this one is made of hex digits only.
                try await server.read { try await $0.raw("CREATE DATABASE \(unsafeRaw: name)").run() }
            } catch {
                await server.close()
                throw error
            }
            await server.close()
            components.path = "/" + name
            return .postgres(url: components.string!)
        }
    }

    /// Runs `body` with a new, migrated database, closed afterwards. Passwords are hashed at bcrypt's
    /// lowest cost: the tests check logins, not bcrypt's slowness.
    public static func with<Result>(_ backend: Backend, _ body: (Database) async throws -> Result) async throws -> Result {
        try await Database.withMigrated(try await makeLocation(backend), passwordCost: 4, logger: logger, body)
    }

    /// ``with(_:_:)`` with a team, "t", already made: where most tests start.
    public static func withTeam<Result>(_ backend: Backend, _ body: (Database, Team) async throws -> Result) async throws -> Result {
        try await with(backend) { store in try await body(store, try await store.teams.create(name: "t")) }
    }

    /// ``withTeam(_:_:)`` with a second team, "o": for the tests that one team cannot see another's.
    public static func withTeams<Result>(_ backend: Backend, _ body: (Database, Team, Team) async throws -> Result) async throws
        -> Result
    {
        try await withTeam(backend) { store, team in try await body(store, team, try await store.teams.create(name: "o")) }
    }
}

public struct SetupError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
