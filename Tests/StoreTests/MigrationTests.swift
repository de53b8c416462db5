import ConduitTestSupport
import Foundation
import SQLKit
import Testing

@testable import Store

@Suite("Store: migrations")
struct MigrationTests {
    @Test(
        "migrating creates every table once; running it again, or from several processes at once, does nothing more",
        arguments: Backend.allCases)
    func idempotent(backend: Backend) async throws {
        let location = try await TestDatabase.makeLocation(backend)
        let first = try await Database.open(location, logger: TestDatabase.logger)
        do {
            #expect(try await first.schemaVersion() == 0)
            // Four connections race to migrate the same empty database.
            let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        let database = try await Database.open(location, logger: TestDatabase.logger)
                        do {
                            let applied = try await database.migrate()
                            await database.close()
                            return applied
                        } catch {
                            await database.close()
                            throw error
                        }
                    }
                }
                return try await group.reduce(into: [[Int]]()) { $0.append($1) }
            }
            #expect(applied.filter { !$0.isEmpty } == [Schema.migrations.map(\.version)])
            #expect(try await first.migrate() == [])
            #expect(try await first.schemaVersion() == Schema.latestVersion)
            let rows = try await first.read { try await $0.raw("SELECT version FROM schema_migrations").all() }
            #expect(rows.count == Schema.migrations.count)
        } catch {
            await first.close()
            throw error
        }
        await first.close()
    }

    @Test("a database migrated by a newer build is refused, not downgraded", arguments: Backend.allCases)
    func newerSchema(backend: Backend) async throws {
        try await TestDatabase.with(backend) { database in
            let future = Schema.latestVersion + 1
            try await database.read {
                try await $0.raw("INSERT INTO schema_migrations (version, name, applied_at) VALUES (\(bind: future), 'future', 0)").run()
            }
            await #expect(throws: StoreError.schemaTooNew(database: future, known: Schema.latestVersion)) { try await database.migrate() }
        }
    }

    @Test("a database at the previous version is upgraded with its data intact", arguments: Backend.allCases)
    func fromPreviousVersion(backend: Backend) async throws {
        let location = try await TestDatabase.makeLocation(backend)
        let database = try await Database.open(location, logger: TestDatabase.logger)
        do {
            let previous = Schema.latestVersion - 1
            #expect(try await database.migrate(upTo: previous) == Array(1...previous))
            let team = try await database.createTeam(name: "before")
            let issued = try await database.createAPIKey(name: "old", teamID: team.id, scopes: [.embeddings])
            #expect(try await database.migrate() == [Schema.latestVersion])
            #expect(try await database.apiKey(secret: issued.secret)?.name == "old")
            #expect(try await database.team("before")?.limits == Limits.none)
        } catch {
            await database.close()
            throw error
        }
        await database.close()
    }

    @Test("database locations: URLs and paths are told apart, and passwords never printed")
    func locations() throws {
        #expect(try DatabaseLocation("postgres://u:secret@db:5432/conduit") == .postgres(url: "postgres://u:secret@db:5432/conduit"))
        #expect(try DatabaseLocation("postgres://u:secret@db:5432/conduit").description == "postgres://u:REDACTED@db:5432/conduit")
        #expect(try DatabaseLocation("sqlite:///var/lib/conduit.sqlite") == .sqlite(path: "/var/lib/conduit.sqlite"))
        #expect(try DatabaseLocation("data/conduit.sqlite") == .sqlite(path: "data/conduit.sqlite"))
        #expect(throws: StoreError.self) { try DatabaseLocation("mysql://db/conduit") }
        #expect(throws: StoreError.self) { try DatabaseLocation("postgres:///conduit") }
    }
}
