import ConduitTestSupport
import Foundation
import SQLKit
import Testing

@testable import Store

@Suite("Store: teams and API keys")
struct APIKeyTests {
    @Test("a key is stored only as a hash with a visible prefix, and found again by its secret", arguments: Backend.allCases)
    func storedHashed(backend: Backend) async throws {
        try await TestDatabase.with(backend) { database in
            let team = try await database.teams.create(name: "research")
            let issued = try await database.keys.create(name: "ci", teamID: team.id, scopes: [.embeddings])
            #expect(APIKeySecret.isWellFormed(issued.secret))
            #expect(issued.key.prefix == String(issued.secret.prefix(12)))
            let stored = try await database.read { try await $0.raw("SELECT * FROM api_keys").all() }
            #expect(stored.count == 1)
            let columns = try stored[0].allColumns.map { try stored[0].decode(column: $0, as: String?.self) ?? "" }
            #expect(!columns.contains { $0.contains(issued.secret) }, "the secret itself is stored")
            #expect(try await database.keys.find(secret: issued.secret) == issued.key)
            #expect(try await database.keys.find(secret: issued.secret + "x") == nil)
            #expect(try await database.keys.find(secret: APIKeySecret.generate()) == nil)
        }
    }

    @Test("revoke, rotate, expiry, last use, and another team's keys", arguments: Backend.allCases)
    func lifecycle(backend: Backend) async throws {
        try await TestDatabase.with(backend) { database in
            let team = try await database.teams.create(name: "a")
            let other = try await database.teams.create(name: "b")
            await #expect(throws: StoreError.conflict("a team named 'a' already exists")) { try await database.teams.create(name: "a") }
            let issued = try await database.keys.create(name: "svc", teamID: team.id, scopes: [.embeddings, .jobs])

            // Another team sees nothing of it.
            #expect(try await database.keys.find(id: issued.key.id, teamID: other.id) == nil)
            #expect(try await database.keys.list(teamID: other.id).isEmpty)
            await #expect(throws: StoreError.self) { try await database.keys.revoke(id: issued.key.id, teamID: other.id) }

            try await database.keys.touch(issued.key, at: 100_000)
            #expect(try await database.keys.find(secret: issued.secret)?.lastUsedAt == 100_000)

            try await database.keys.setLimits(Limits(requestsPerMinute: 5, monthlyTokens: 100), forKey: issued.key.id)
            let rotated = try await database.keys.rotate(id: issued.key.id, teamID: team.id)
            #expect(rotated.key.limits == Limits(requestsPerMinute: 5, monthlyTokens: 100))
            #expect(try await database.keys.find(secret: rotated.secret)?.limits == Limits(requestsPerMinute: 5, monthlyTokens: 100))
            #expect(rotated.secret != issued.secret && rotated.key.scopes == [.embeddings, .jobs] && rotated.key.name == "svc")
            let old = try #require(try await database.keys.find(secret: issued.secret))
            #expect(!old.isUsable(at: StoreTime.now()))
            #expect(try await database.keys.find(secret: rotated.secret)?.isUsable(at: StoreTime.now()) == true)

            let revoked = try await database.keys.revoke(id: rotated.key.id, teamID: team.id)
            #expect(revoked.revokedAt != nil && !revoked.isUsable(at: StoreTime.now()))

            let expiring = try await database.keys.create(name: "short", teamID: team.id, expiresAt: 2_000)
            #expect(expiring.key.isUsable(at: 1_999) && !expiring.key.isUsable(at: 2_000))
            await #expect(throws: StoreError.self) { try await database.keys.rotate(id: expiring.key.id, teamID: team.id) }
            #expect(try await database.keys.list(teamID: team.id).count == 3)
            await #expect(throws: StoreError.self) { try await database.keys.create(name: "x", teamID: "no-such-team") }
        }
    }

    @Test("a requested key's name, scopes and expiry follow one set of rules, whoever asks (the admin API, the command line)")
    func rules() throws {
        #expect(try APIKeyRules.name("  ci ") == "ci")
        #expect(throws: APIKeyRules.Violation.self) { try APIKeyRules.name("   ") }
        #expect(throws: APIKeyRules.Violation.self) { try APIKeyRules.name(String(repeating: "n", count: 201)) }
        #expect(try APIKeyRules.scopes(nil) == Scope.defaultScopes && APIKeyRules.scopes([]).isEmpty)
        #expect(try APIKeyRules.scopes(["admin", "jobs"]) == [.admin, .jobs])
        let unknown = #expect(throws: APIKeyRules.Violation.self) { try APIKeyRules.scopes(["jobs", "root"]) }
        #expect(unknown?.field == "scopes" && unknown?.description.contains("'root'") == true)
        #expect(try APIKeyRules.expiry(inDays: nil) == nil)
        #expect(try APIKeyRules.expiry(inDays: 2, from: 1_000) == 1_000 + 2 * StoreTime.day)
        for days in [0, 36_501] { #expect(throws: APIKeyRules.Violation.self) { try APIKeyRules.expiry(inDays: days) } }
    }
}
