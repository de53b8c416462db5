import ConduitTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Store
import Testing

@testable import Conduit
@testable import ConduitCore

@Suite("Admin API")
struct AdminAPITests {
    private func call(
        _ client: some TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, key: String, body: String? = nil
    ) async throws -> (HTTPResponse.Status, [String: Any]) {
        var headers: HTTPFields = [.authorization: "Bearer \(key)"]
        if body != nil { headers[.contentType] = "application/json" }
        let response = try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        let json = (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))) as? [String: Any] ?? [:]
        return (response.status, json)
    }

    @Test(
        "keys are created (secret shown once), listed, rotated and revoked within the caller's team; another team's ids are 404",
        arguments: Backend.allCases)
    func keys(backend: Backend) async throws {
        try await TestDatabase.with(backend) { store in
            let mine = try await store.teams.create(name: "mine")
            let theirs = try await store.teams.create(name: "theirs")
            let admin = try await store.keys.create(name: "admin", teamID: mine.id, scopes: [.admin])
            let member = try await store.keys.create(name: "member", teamID: mine.id, scopes: [.embeddings])
            let foreign = try await store.keys.create(name: "foreign", teamID: theirs.id, scopes: [.embeddings])
            let app = try TestServer.authenticatedApplication(store: store)
            try await app.test(.router) { client in
                let (created, key) = try await call(
                    client, .post, "/v1/admin/keys", key: admin.secret, body: #"{"name":"ci","scopes":["embeddings"],"expires_in_days":30}"#
                )
                #expect(created == .created)
                let secret = try #require(key["secret"] as? String)
                let id = try #require(key["id"] as? String)
                #expect(try await store.keys.find(secret: secret)?.teamID == mine.id)

                let (listed, list) = try await call(client, .get, "/v1/admin/keys", key: admin.secret)
                let keys = try #require(list["data"] as? [[String: Any]])
                #expect(listed == .ok && keys.count == 3 && keys.allSatisfy { $0["secret"] == nil || $0["secret"] is NSNull })
                #expect(!keys.contains { $0["id"] as? String == foreign.key.id })

                let (rotated, newKey) = try await call(client, .post, "/v1/admin/keys/\(id)/rotate", key: admin.secret)
                #expect(rotated == .created && newKey["secret"] as? String != secret)
                #expect(try await call(client, .delete, "/v1/admin/keys/\(newKey["id"] as? String ?? "")", key: admin.secret).0 == .ok)

                // Another team's key does not exist for this team.
                #expect(try await call(client, .delete, "/v1/admin/keys/\(foreign.key.id)", key: admin.secret).0 == .notFound)
                #expect(try await call(client, .post, "/v1/admin/keys/\(foreign.key.id)/rotate", key: admin.secret).0 == .notFound)
                #expect(try await store.keys.find(secret: foreign.secret)?.revokedAt == nil)
                // Without the admin scope.
                #expect(try await call(client, .get, "/v1/admin/keys", key: member.secret).0 == .forbidden)
                let (bad, error) = try await call(
                    client, .post, "/v1/admin/keys", key: admin.secret, body: #"{"name":"x","scopes":["root"]}"#)
                #expect(bad == .badRequest && (error["error"] as? [String: Any])?["code"] as? String == "invalid_value")
            }
        }
    }

    @Test(
        "users are listed, created, given another role and deleted within the caller's team; no owner made, changed or deleted from the API; no password in any answer"
    )
    func users() async throws {
        try await TestDatabase.with(.sqlite) { store in
            let mine = try await store.teams.create(name: "mine")
            let theirs = try await store.teams.create(name: "theirs")
            _ = try await store.users.create(email: "other@x.io", password: "password-1", role: .member, teamID: theirs.id)
            let admin = try await store.keys.create(name: "admin", teamID: mine.id, scopes: [.admin])
            let app = try TestServer.authenticatedApplication(store: store)
            try await app.test(.router) { client in
                let (created, user) = try await call(
                    client, .post, "/v1/admin/users", key: admin.secret,
                    body: #"{"email":"New@x.io","password":"new-password","role":"viewer"}"#)
                #expect(created == .created && user["email"] as? String == "new@x.io" && user["team_id"] as? String == mine.id)
                #expect(user["password_hash"] == nil && user["password"] == nil)
                let owner = try await call(
                    client, .post, "/v1/admin/users", key: admin.secret, body: #"{"email":"o@x.io","password":"owner-pass","role":"owner"}"#
                )
                #expect(owner.0 == .badRequest)
                let duplicate = try await call(
                    client, .post, "/v1/admin/users", key: admin.secret, body: #"{"email":"new@x.io","password":"new-password"}"#)
                #expect(duplicate.0 == .conflict)
                // An email with a user in another team is no conflict here: the answer tells nothing of other teams.
                let elsewhere = try await call(
                    client, .post, "/v1/admin/users", key: admin.secret, body: #"{"email":"other@x.io","password":"password-2"}"#)
                #expect(elsewhere.0 == .created && elsewhere.1["team_id"] as? String == mine.id)
                let list = try await call(client, .get, "/v1/admin/users", key: admin.secret).1["data"] as? [[String: Any]] ?? []
                #expect(Set(list.map { $0["email"] as? String }) == ["new@x.io", "other@x.io"])

                // Promoted, demoted and deleted within the team; another team's users and owners are out of reach.
                let id = try #require(user["id"] as? String)
                let promoted = try await call(client, .patch, "/v1/admin/users/\(id)", key: admin.secret, body: #"{"role":"member"}"#)
                #expect(promoted.0 == .ok && promoted.1["role"] as? String == "member")
                #expect(try await store.users.find(id: id)?.role == .member)
                let toOwner = try await call(client, .patch, "/v1/admin/users/\(id)", key: admin.secret, body: #"{"role":"owner"}"#)
                #expect(toOwner.0 == .badRequest)
                let foreign = try #require(try await store.users.list(teamID: theirs.id).first)
                #expect(try await call(client, .delete, "/v1/admin/users/\(foreign.id)", key: admin.secret).0 == .notFound)
                #expect(
                    try await call(client, .patch, "/v1/admin/users/\(foreign.id)", key: admin.secret, body: #"{"role":"viewer"}"#).0
                        == .notFound)
                let boss = try await store.users.create(email: "boss@x.io", password: "boss-password", role: .owner, teamID: mine.id)
                #expect(try await call(client, .delete, "/v1/admin/users/\(boss.id)", key: admin.secret).0 == .forbidden)
                #expect(try await call(client, .delete, "/v1/admin/users/\(id)", key: admin.secret).0 == .ok)
                #expect(try await store.users.find(id: id) == nil)
                #expect(try await store.users.authenticate(email: "new@x.io", password: "new-password") == nil)
            }
        }
    }

    @Test("every inference request is recorded; usage is reported by day, model and key with its cost")
    func usage() async throws {
        try await TestDatabase.withTeam(.sqlite) { store, team in
            let admin = try await store.keys.create(name: "admin", teamID: team.id, scopes: [.admin, .embeddings])
            let app = try TestServer.authenticatedApplication(store: store) { $0.usage.prices = ["all-MiniLM-L6-v2": 2.0] }
            try await app.test(.router) { client in
                for body in [#"{"input":"hello world"}"#, #"{"input":["a","b"]}"#, #"{"input":""}"#] {
                    _ = try await call(client, .post, "/v1/embeddings", key: admin.secret, body: body)
                }
                var rows: [[String: Any]] = []
                // The recorder writes in batches: wait for the last of the three.
                try await eventually(within: .seconds(10), every: .milliseconds(200)) {
                    rows = try await call(client, .get, "/v1/admin/usage", key: admin.secret).1["data"] as? [[String: Any]] ?? []
                    return (rows.first?["requests"] as? Int ?? 0) >= 3
                }
                let row = try #require(rows.first)
                #expect(rows.count == 1)
                #expect(row["requests"] as? Int == 3 && row["errors"] as? Int == 1)
                #expect(row["tokens"] as? Int == 10)  // 4 for "hello world", 3 each for "a" and "b"
                #expect(row["key_id"] as? String == admin.key.id && row["model"] as? String == "all-MiniLM-L6-v2")
                #expect(abs((row["cost_usd"] as? Double ?? 0) - 10 * 2.0 / 1_000_000) < 1e-12)
                #expect(try await call(client, .get, "/v1/admin/usage?from=2026-13-01", key: admin.secret).0 == .badRequest)
                let old = try await call(client, .get, "/v1/admin/usage?from=2000-01-01&to=2000-01-02", key: admin.secret).1
                #expect((old["data"] as? [Any])?.isEmpty == true)
            }
        }
    }
}
