import ConduitTestSupport
import SQLKit
import Testing

@testable import Store

@Suite("Store: transactions")
struct TransactionTests {
    @Test("after a failed rollback on SQLite's one connection, the open transaction is ended before anything else runs")
    func transactionLeftOpen() async throws {
        try await TestDatabase.with(.sqlite) { store in
            // A transaction left open, with a write that belongs to it, as a failed ROLLBACK leaves it.
            try await store.read { sql in
                try await sql.raw("BEGIN").run()
                try await sql.raw("INSERT INTO teams (id, name, created_at) VALUES ('doomed', 'doomed', 0)").run()
            }
            store.simulateFailedRollback()
            // The next plain statement runs on its own, not inside the doomed transaction...
            try await store.read { sql in
                try await sql.raw("INSERT INTO teams (id, name, created_at) VALUES ('kept', 'kept', 0)").run()
            }
            // ...and a transaction can begin.
            try await store.transaction { sql in
                try await sql.raw("INSERT INTO teams (id, name, created_at) VALUES ('also', 'also', 0)").run()
            }
            let doomed = try await store.teams.find(id: "doomed")
            let kept = try await store.teams.find(id: "kept")
            let also = try await store.teams.find(id: "also")
            #expect(doomed == nil && kept != nil && also != nil)
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
            let team = try await store.teams.find(id: "t1")
            #expect(team == nil)
        }
    }
}
