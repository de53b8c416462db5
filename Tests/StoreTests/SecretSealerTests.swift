import ConduitTestSupport
import Foundation
import SQLKit
import Testing

@testable import Store

@Suite("Sealed webhook secrets")
struct SecretSealerTests {
    private static func stored(_ id: String, in store: Database) async throws -> (secret: String, previous: String?) {
        try await store.read { sql in
            let row = try #require(try await sql.raw("SELECT secret, previous_secret FROM webhooks WHERE id = \(bind: id)").first())
            return (try row.decode(column: "secret", as: String.self), try row.decode(column: "previous_secret", as: String?.self))
        }
    }

    @Test(
        "with a key, secrets are stored sealed and read back in clear; reseal moves them to a new key, the old kept readable meanwhile; an unknown key or an altered value does not open",
        arguments: Backend.allCases)
    func sealing(backend: Backend) async throws {
        try await TestDatabase.withTeam(backend) { store, team in
            let first = SecretSealer.newKeyFileText()
            let second = SecretSealer.newKeyFileText()
            // Before any key: a webhook made in clear stays readable once sealing starts.
            let (early, earlySecret) = try await store.webhooks.create(
                teamID: team.id, url: "https://a.example/h", topics: [], description: "")
            #expect(try await Self.stored(early.id, in: store).secret == earlySecret)
            store.secretSealer = try #require(SecretSealer(currentKeyText: first, previousKeyTexts: []))
            let (hook, secret) = try await store.webhooks.create(teamID: team.id, url: "https://b.example/h", topics: [], description: "")
            let sealed = try await Self.stored(hook.id, in: store).secret
            #expect(sealed.hasPrefix("sealed1:") && !sealed.contains(secret.dropFirst(6)), "a backup holds no secret")
            #expect(try await store.webhooks.find(hook.id, teamID: team.id)?.signingSecrets == [secret])
            #expect(try await store.webhooks.find(early.id, teamID: team.id)?.signingSecrets == [earlySecret])
            let rotated = try #require(try await store.webhooks.rotateSecret(hook.id, teamID: team.id, overlap: 60_000))
            #expect(try await store.webhooks.find(hook.id, teamID: team.id)?.signingSecrets == [rotated, secret])

            // The key rotates: the new one seals, the old one still opens until reseal is done.
            store.secretSealer = try #require(SecretSealer(currentKeyText: second, previousKeyTexts: [first]))
            #expect(try await store.webhooks.find(hook.id, teamID: team.id)?.signingSecrets == [rotated, secret])
            #expect(try await store.webhooks.reseal() == 2, "the sealed one and the one in clear")
            #expect(try await store.webhooks.reseal() == 0)
            store.secretSealer = try #require(SecretSealer(currentKeyText: second, previousKeyTexts: []))
            #expect(try await store.webhooks.find(hook.id, teamID: team.id)?.signingSecrets == [rotated, secret])
            #expect(try await store.webhooks.find(early.id, teamID: team.id)?.signingSecrets == [earlySecret])
            #expect(try await Self.stored(early.id, in: store).secret.hasPrefix("sealed1:"))

            // Without the key it was sealed under, or altered, a secret does not open: refused, never a wrong signature.
            store.secretSealer = try #require(SecretSealer(currentKeyText: first, previousKeyTexts: []))
            await #expect(throws: SecretSealer.SealingError.self) { try await store.webhooks.find(hook.id, teamID: team.id) }
            store.secretSealer = try #require(SecretSealer(currentKeyText: second, previousKeyTexts: []))
            let tampered = String(try await Self.stored(hook.id, in: store).secret.dropLast(4)) + "AAA="
            try await store.read { sql in
                try await sql.raw("UPDATE webhooks SET secret = \(bind: tampered) WHERE id = \(bind: hook.id)").run()
            }
            await #expect(throws: SecretSealer.SealingError.self) { try await store.webhooks.find(hook.id, teamID: team.id) }
            #expect(SecretSealer(currentKeyText: "not a key", previousKeyTexts: []) == nil)
        }
    }
}
