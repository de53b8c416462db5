import ConduitTestSupport
import Foundation
import SQLKit
import Testing

@testable import Store

@Suite("Store: migrations")
struct MigrationTests {
    /// A key as the code of an older schema stored it (today's insert names later columns); its secret.
    static func oldKey(in database: Database, name: String, teamID: String, scopes: Set<Scope>) async throws -> String {
        let secret = APIKeySecret.generate()
        let scopes = scopes.sorted().map(\.rawValue).joined(separator: " ")
        try await database.read { sql in
            try await sql.raw(
                """
                INSERT INTO api_keys (id, team_id, name, prefix, secret_hash, scopes, created_at)
                VALUES (\(bind: UUID().uuidString), \(bind: teamID), \(bind: name), 'cdt_', \(bind: APIKeySecret.hash(secret)),
                        \(bind: scopes), \(bind: StoreTime.now()))
                """
            ).run()
        }
        return secret
    }

    /// A team as the code of an older schema made it (today's also records an event, in a later table).
    static func oldTeam(in database: Database, name: String) async throws -> Team {
        let team = Team(id: UUID().uuidString, name: name, createdAt: StoreTime.now())
        try await database.read { sql in
            try await sql.raw(
                "INSERT INTO teams (id, name, created_at) VALUES (\(bind: team.id), \(bind: team.name), \(bind: team.createdAt))"
            ).run()
        }
        return team
    }

    @Test("a SQLite database closed from a cancelled task still closes its connection (a connection left open is a crash in debug builds)")
    func closeWhenCancelled() async throws {
        let location = try await TestDatabase.makeLocation(.sqlite)
        let database = try await Database.open(location, logger: TestDatabase.logger)
        let closing = Task {
            // Cancelled before it closes, as a task-group sibling of a failed task is.
            while !Task.isCancelled { await Task.yield() }
            await database.close()
        }
        closing.cancel()
        await closing.value
        // Closed: a query now fails instead of reading the file.
        await #expect(throws: (any Error).self) { try await database.schemaVersion() }
    }

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

    @Test(
        "version 18 numbers the events kept before, per team in the order they were recorded, and the next continues",
        arguments: Backend.allCases)
    func eventsNumbered(backend: Backend) async throws {
        let location = try await TestDatabase.makeLocation(backend)
        let database = try await Database.open(location, logger: TestDatabase.logger)
        do {
            #expect(try await database.migrate(upTo: 17) == Array(1...17))
            try await database.read { sql in
                try await sql.raw("INSERT INTO teams (id, name, created_at) VALUES ('a', 'a', 0), ('b', 'b', 0)").run()
                try await sql.raw(
                    """
                    INSERT INTO events (id, team_id, topic, payload, created_at) VALUES
                    ('e3', 'a', 'insight.created', '{}', 300), ('e1', 'a', 'insight.created', '{}', 100),
                    ('e2', 'b', 'insight.created', '{}', 200), ('e0', 'a', 'insight.created', '{}', 100)
                    """
                ).run()
            }
            #expect(try await database.migrate() == Array(18...Schema.latestVersion))
            #expect(try await database.events.list(teamID: "a").map { "\($0.id)=\($0.sequence)" } == ["e0=1", "e1=2", "e3=3"])
            #expect(try await database.events.list(teamID: "b").map { "\($0.id)=\($0.sequence)" } == ["e2=1"])
            try await database.transaction { sql in
                try await database.events.insert(NewEvent(topic: "insight.created", payload: "{}"), teamID: "a", now: 400, in: sql)
            }
            #expect(try await database.events.list(teamID: "a").last?.sequence == 4)
        } catch {
            await database.close()
            throw error
        }
        await database.close()
    }

    @Test(
        "a database at version 11 is upgraded with its data intact (users and their refresh tokens survive version 12's rebuilt users table)",
        arguments: Backend.allCases)
    func fromPreviousVersion(backend: Backend) async throws {
        let location = try await TestDatabase.makeLocation(backend)
        let database = try await Database.open(location, logger: TestDatabase.logger)
        do {
            #expect(try await database.migrate(upTo: 11) == Array(1...11))
            let team = try await Self.oldTeam(in: database, name: "before")
            let issued = try await Self.oldKey(in: database, name: "old", teamID: team.id, scopes: [.embeddings])
            // As the previous version's code wrote it (today's insert names the newer unique index).
            let user = User(id: "u1", teamID: team.id, email: "a@b.c", role: .member, createdAt: StoreTime.now())
            try await database.read { sql in
                try await sql.raw(
                    """
                    INSERT INTO users (id, team_id, email, password_hash, role, created_at)
                    VALUES ('u1', \(bind: team.id), 'a@b.c', '$2b$04$kept', 'member', \(bind: user.createdAt))
                    """
                ).run()
            }
            let refresh = try await database.refreshTokens.issue(userID: user.id, lifetime: .seconds(3600))
            #expect(try await database.migrate() == Array(12...Schema.latestVersion))
            #expect(try await database.keys.find(secret: issued)?.name == "old")
            #expect(try await database.teams.find("before")?.limits == Limits.none)
            // Version 12: the users table is rebuilt on SQLite; its rows and the refresh tokens that point at them stay.
            #expect(try await database.users.find(id: "u1") == user)
            let hash = try await database.read {
                try await $0.raw("SELECT password_hash FROM users").first()?.decode(column: "password_hash", as: String.self)
            }
            #expect(hash == "$2b$04$kept")
            if case .rotated(let rotated, _) = try await database.refreshTokens.refresh(refresh) {
                #expect(rotated == user)
            } else {
                Issue.record("the refresh token survives the migration")
            }
            // A team's own emails stay unique; another team may use the same one.
            await #expect(throws: StoreError.self) {
                try await database.users.create(email: "a@b.c", password: "password2", role: .member, teamID: team.id)
            }
            let other = try await Self.oldTeam(in: database, name: "other")
            _ = try await database.users.create(email: "a@b.c", password: "password2", role: .member, teamID: other.id)
            // The cascades still hold: deleting the team deletes its users and, through them, their refresh tokens.
            try await database.read { try await $0.raw("DELETE FROM teams WHERE id = \(bind: team.id)").run() }
            #expect(try await database.read { try await $0.raw("SELECT user_id FROM refresh_tokens").all() }.isEmpty)
        } catch {
            await database.close()
            throw error
        }
        await database.close()
    }

    @Test("version 11: the bootstrap admin key gains the operator scope, and no team's admin key does", arguments: Backend.allCases)
    func operatorScope(backend: Backend) async throws {
        let location = try await TestDatabase.makeLocation(backend)
        let database = try await Database.open(location, logger: TestDatabase.logger)
        do {
            try await database.migrate(upTo: 10)
            let team = try await Self.oldTeam(in: database, name: "before")
            let defaultTeam = try await Self.oldTeam(in: database, name: "default")
            let bootstrap = try await Self.oldKey(in: database, name: "bootstrap admin", teamID: defaultTeam.id, scopes: Scope.teamScopes)
            let impostor = try await Self.oldKey(in: database, name: "bootstrap admin", teamID: team.id, scopes: Scope.teamScopes)
            let teamAdmin = try await Self.oldKey(in: database, name: "team admin", teamID: team.id, scopes: Scope.teamScopes)
            #expect(try await database.migrate() == Array(11...Schema.latestVersion))
            #expect(try await database.keys.find(secret: bootstrap)?.scopes == Set(Scope.allCases))
            #expect(try await database.keys.find(secret: teamAdmin)?.scopes == Scope.teamScopes)
            #expect(try await database.keys.find(secret: impostor)?.scopes == Scope.teamScopes, "only the default team's")
        } catch {
            await database.close()
            throw error
        }
        await database.close()
    }

    @Test(
        "version 10 turns the seconds of the older tables into milliseconds: keys still expire when they did", arguments: Backend.allCases)
    func timesInMilliseconds(backend: Backend) async throws {
        let location = try await TestDatabase.makeLocation(backend)
        let database = try await Database.open(location, logger: TestDatabase.logger)
        do {
            try await database.migrate(upTo: 9)
            let secret = APIKeySecret.generate()
            let (created, expires) = (Int64(1_700_000_000), Int64(4_000_000_000))
            try await database.read { sql in
                try await sql.raw("INSERT INTO teams (id, name, created_at) VALUES ('t', 'old', \(bind: created))").run()
                try await sql.raw(
                    """
                    INSERT INTO api_keys (id, team_id, name, prefix, secret_hash, scopes, created_at, expires_at)
                    VALUES ('k', 't', 'old', 'cdt_', \(bind: APIKeySecret.hash(secret)), 'embeddings', \(bind: created), \(bind: expires))
                    """
                ).run()
                try await sql.raw(
                    "INSERT INTO rate_counters (subject, window_start, requests, tokens) VALUES ('key:k:minute', 1700000040, 3, 0)"
                ).run()
            }
            #expect(try await database.migrate() == Array(10...Schema.latestVersion))
            let applied = try await database.read { sql in
                try await sql.raw("SELECT MIN(applied_at) AS first FROM schema_migrations").first()?.decode(column: "first", as: Int64.self)
            }
            #expect((applied ?? 0) > 1_000_000_000_000, "every step's time in milliseconds, those of this run's steps not multiplied again")
            let key = try #require(try await database.keys.find(secret: secret))
            #expect(key.createdAt == created * 1000 && key.expiresAt == expires * 1000)
            #expect(key.isUsable(at: StoreTime.now()))
            #expect(try await database.teams.find(id: "t")?.createdAt == created * 1000)
            // The open window keeps its count.
            let window = RateWindow(subject: "key:k", period: .minute, requestLimit: 4, tokenLimit: nil)
            let decision = try await database.rateCounters.admit(tokens: 0, in: [window], now: 1_700_000_059_000)
            // Full: a fifth fits as the next minute starts and these four begin to fade.
            #expect(decision == .admitted([RateStatus(window: window, requests: 4, tokens: 0, resetsAt: 1_700_000_100_001)]))
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
