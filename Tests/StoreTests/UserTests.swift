import ConduitTestSupport
import Foundation
import SQLKit
import Testing

@testable import Store

@Suite("Store: users and refresh tokens")
struct UserTests {
    @Test(
        "users log in with their password only; emails are unique within a team; short passwords are refused", arguments: Backend.allCases)
    func users(backend: Backend) async throws {
        try await TestDatabase.withTeam(backend) { store, team in
            let user = try await store.users.create(
                email: "Ada@Example.com", password: "correct horse", role: .member, teamID: team.id)
            #expect(user.email == "ada@example.com")
            #expect(try await store.users.authenticate(email: "ada@example.com ", password: "correct horse") == user)
            #expect(try await store.users.authenticate(email: "ada@example.com", password: "wrong horse!") == nil)
            #expect(try await store.users.authenticate(email: "nobody@example.com", password: "correct horse") == nil)
            await #expect(throws: StoreError.self) {
                try await store.users.create(email: "ada@example.com", password: "another one", role: .viewer, teamID: team.id)
            }
            await #expect(throws: StoreError.self) {
                try await store.users.create(email: "bob@example.com", password: "short", role: .viewer, teamID: team.id)
            }
            let stored = try await store.read { try await $0.raw("SELECT password_hash FROM users").all() }
            #expect(try stored.allSatisfy { try $0.decode(column: "password_hash", as: String.self).hasPrefix("$2") })
        }
    }

    @Test(
        "one email may have users in several teams: a login finds the one whose password matches, and names the team only when several match",
        arguments: Backend.allCases)
    func emailInSeveralTeams(backend: Backend) async throws {
        try await TestDatabase.withTeam(backend) { store, team in
            let other = try await store.teams.create(name: "other")
            let here = try await store.users.create(email: "ada@example.com", password: "first password", role: .member, teamID: team.id)
            let there = try await store.users.create(email: "Ada@example.com", password: "second password", role: .admin, teamID: other.id)
            #expect(try await store.users.authenticate(email: "ada@example.com", password: "first password") == here)
            #expect(try await store.users.authenticate(email: "ada@example.com", password: "second password") == there)
            #expect(try await store.users.authenticate(email: "ada@example.com", password: "second password", team: team.name) == nil)
            #expect(try await store.users.find(email: "ada@example.com").count == 2)

            let third = try await store.teams.create(name: "third")
            let same = try await store.users.create(email: "ada@example.com", password: "first password", role: .viewer, teamID: third.id)
            await #expect(throws: StoreError.self) {
                try await store.users.authenticate(email: "ada@example.com", password: "first password")
            }
            #expect(try await store.users.authenticate(email: "ada@example.com", password: "first password", team: "third") == same)
            #expect(try await store.users.authenticate(email: "ada@example.com", password: "first password", team: third.id) == same)
        }
    }

    @Test(
        "a refresh token is single-use; presenting a spent one revokes its whole family; logout revokes it too",
        arguments: Backend.allCases)
    func refreshFamilies(backend: Backend) async throws {
        try await TestDatabase.withTeam(backend) { store, team in
            let user = try await store.users.create(email: "a@b.c", password: "password1", role: .member, teamID: team.id)
            let first = try await store.refreshTokens.issue(userID: user.id, lifetime: .seconds(3600))
            guard case .rotated(let rotatedUser, let second) = try await store.refreshTokens.refresh(first) else {
                Issue.record("a fresh token rotates")
                return
            }
            #expect(rotatedUser == user)
            #expect(try await store.refreshTokens.refresh(first) == .reused)
            // The thief's replay logged the rightful holder out as well.
            #expect(try await store.refreshTokens.refresh(second) == .invalid)

            let other = try await store.refreshTokens.issue(userID: user.id, lifetime: .seconds(3600))
            try await store.refreshTokens.revokeFamily(of: other)
            #expect(try await store.refreshTokens.refresh(other) == .invalid)
            #expect(try await store.refreshTokens.refresh("cdr_unknown") == .invalid)

            let expiring = try await store.refreshTokens.issue(userID: user.id, lifetime: .seconds(10))
            #expect(try await store.refreshTokens.refresh(expiring, now: StoreTime.now() + 11 * StoreTime.second) == .invalid)
        }
    }

    @Test(
        "a login ends at its first token's expiry however often it is refreshed; expired families are pruned", arguments: Backend.allCases)
    func absoluteLifetime(backend: Backend) async throws {
        try await TestDatabase.withTeam(backend) { store, team in
            let user = try await store.users.create(email: "a@b.c", password: "password1", role: .member, teamID: team.id)
            let start = StoreTime.now()
            var token = try await store.refreshTokens.issue(userID: user.id, lifetime: .seconds(100))
            for step in 1...3 {
                guard
                    case .rotated(_, let next) = try await store.refreshTokens.refresh(
                        token, now: start + Int64(step * 30) * StoreTime.second)
                else {
                    Issue.record("refresh \(step) within the lifetime rotates")
                    return
                }
                token = next
            }
            // 120 s after login: within 100 s of the last refresh, past the login's 100 s.
            #expect(try await store.refreshTokens.refresh(token, now: start + 120 * StoreTime.second) == .invalid)

            let live = try await store.refreshTokens.issue(userID: user.id, lifetime: .seconds(10_000))
            try await store.refreshTokens.prune(expiredBefore: start + 1_000 * StoreTime.second)
            let left = try await store.read { try await $0.raw("SELECT id FROM refresh_tokens").all().count }
            #expect(left == 1)
            guard case .rotated = try await store.refreshTokens.refresh(live) else {
                Issue.record("pruning keeps unexpired tokens")
                return
            }
        }
    }

    @Test("two uses of one refresh token at once: one rotates, the other is a replay", arguments: Backend.allCases)
    func concurrentRefresh(backend: Backend) async throws {
        try await TestDatabase.withTeam(backend) { store, team in
            let user = try await store.users.create(email: "a@b.c", password: "password1", role: .member, teamID: team.id)
            let token = try await store.refreshTokens.issue(userID: user.id, lifetime: .seconds(3600))
            let outcomes = try await withThrowingTaskGroup(of: RefreshOutcome.self) { group in
                for _ in 0..<2 { group.addTask { try await store.refreshTokens.refresh(token) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.filter { if case .rotated = $0 { true } else { false } }.count == 1)
            #expect(outcomes.contains(.reused))
        }
    }
}
