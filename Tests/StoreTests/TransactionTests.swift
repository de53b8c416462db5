import ConduitTestSupport
import SQLKit
import Testing

@testable import Store

@Suite("Store: transactions")
struct TransactionTests {
    @Test("on SQLite's one connection, a transaction left open (a failed rollback) is ended, not fatal to every later write")
    func transactionLeftOpen() async throws {
        try await TestDatabase.with(.sqlite) { store in
            try await store.read { sql in try await sql.raw("BEGIN").run() }
            for id in ["t1", "t2"] {
                try await store.transaction { sql in
                    try await sql.raw("INSERT INTO teams (id, name, created_at) VALUES (\(bind: id), \(bind: id), 0)").run()
                }
            }
            #expect(try await store.team(id: "t2")?.name == "t2")
        }
    }

    @Test("a transaction that throws leaves nothing behind", arguments: Backend.allCases)
    func rollback(backend: Backend) async throws {
        struct Abort: Error {}
        try await TestDatabase.with(backend) { store in
            await #expect(throws: Abort.self) {
                try await store.transaction { sql in
                    try await sql.raw("INSERT INTO teams (id, name, created_at) VALUES ('t1', 'gone', 0)").run()
                    throw Abort()
                }
            }
            let team = try await store.team(id: "t1")
            #expect(team == nil)
        }
    }
}
