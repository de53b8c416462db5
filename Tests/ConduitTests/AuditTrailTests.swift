import Conduit
import ConduitEvents
import ConduitTestSupport
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing

@testable import ConduitCore
@testable import Store

/// The audit trail (`GET /v1/admin/audit`): who changed keys, users, limits and webhooks.
extension EndToEnd {
    @Suite("Audit trail")
    struct AuditTrailTests {
        private static func call(
            _ client: some TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, key: String, body: String? = nil
        ) async throws -> (status: HTTPResponse.Status, text: String, json: [String: Any]) {
            var headers: HTTPFields = [.authorization: "Bearer \(key)"]
            if body != nil { headers[.contentType] = "application/json" }
            let response = try await client.execute(
                uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
            let text = String(buffer: response.body)
            return (response.status, text, (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:])
        }

        private static func entries(_ page: [String: Any]) -> [(type: String, actor: String?, resource: String?)] {
            (page["data"] as? [[String: Any]] ?? []).map {
                ($0["type"] as? String ?? "", $0["actor"] as? String, $0["resource"] as? String)
            }
        }

        @Test(
            "each change to keys, users, limits and webhooks is an event with its actor (the key, or the command line); filtered by actor, type and resource; admins only, their team only, no secret in it"
        )
        func trail() async throws {
            try await TestDatabase.withTeams(.sqlite) { store, team, other in
                let admin = try await store.keys.create(name: "admin", teamID: team.id, scopes: [.admin])
                let jobs = try await store.keys.create(name: "jobs", teamID: team.id, scopes: [.jobs]).secret
                let otherAdmin = try await store.keys.create(name: "admin", teamID: other.id, scopes: [.admin]).secret
                let app = try TestServer.authenticatedApplication(store: store) { $0.webhooks.allowPrivateAddresses = true }
                try await app.test(.router) { client in
                    let key = try await Self.call(
                        client, .post, "/v1/admin/keys", key: admin.secret, body: #"{"name":"ci","scopes":["jobs"]}"#)
                    let keyID = try #require(key.json["id"] as? String)
                    let keySecret = try #require(key.json["secret"] as? String)
                    let user = try await Self.call(
                        client, .post, "/v1/admin/users", key: admin.secret,
                        body: #"{"email":"ann@example.com","password":"correct horse battery","role":"member"}"#)
                    let userID = try #require(user.json["id"] as? String)
                    _ = try await Self.call(client, .patch, "/v1/admin/users/\(userID)", key: admin.secret, body: #"{"role":"admin"}"#)
                    _ = try await Self.call(client, .delete, "/v1/admin/users/\(userID)", key: admin.secret)
                    let hook = try await Self.call(
                        client, .post, "/v1/webhooks", key: admin.secret,
                        body: #"{"url":"http://127.0.0.1:9/hook","topics":["job.completed"]}"#)
                    let hookID = try #require(hook.json["id"] as? String)
                    let hookSecret = try #require(hook.json["secret"] as? String)
                    let rotated = try await Self.call(client, .post, "/v1/webhooks/\(hookID)/rotate-secret", key: admin.secret)
                    _ = try await Self.call(client, .delete, "/v1/webhooks/\(hookID)", key: admin.secret)
                    _ = try await Self.call(client, .delete, "/v1/admin/keys/\(keyID)", key: admin.secret)
                    // The command line sets limits through the store.
                    try await EventActor.$current.withValue("cli") {
                        try await store.keys.setLimits(Limits(requestsPerMinute: 60), forKey: keyID)
                    }

                    let trail = try await Self.call(client, .get, "/v1/admin/audit?limit=100", key: admin.secret)
                    #expect(trail.status == .ok)
                    let actor = "key:\(admin.key.id)"
                    let entries = Self.entries(trail.json)
                    #expect(
                        Array(entries.map(\.type).suffix(9)) == [
                            "key.created", "user.created", "user.role_changed", "user.deleted", "webhook.created", "webhook.secret_rotated",
                            "webhook.deleted", "key.revoked", "limits.changed",
                        ])
                    // Before them, the team's making and the keys the test made through the store, by no one in particular.
                    #expect(entries.first?.type == "team.created" && entries.first?.resource == "team")
                    #expect(entries.dropFirst().dropLast(9).allSatisfy { $0.type == "key.created" && $0.actor == nil })
                    #expect(entries.dropLast(9).allSatisfy { $0.actor == nil })
                    #expect(entries.suffix(9).dropLast().allSatisfy { $0.actor == actor })
                    #expect(entries.last?.actor == "cli" && entries.last?.resource == "key:\(keyID)")
                    for secret in [keySecret, hookSecret, try #require(rotated.json["secret"] as? String), "correct horse battery"] {
                        #expect(!trail.text.contains(secret), "no secret in the trail")
                    }
                    let byCLI = try await Self.call(client, .get, "/v1/admin/audit?actor=cli", key: admin.secret)
                    #expect(Self.entries(byCLI.json).map(\.type) == ["limits.changed"])
                    let users = try await Self.call(client, .get, "/v1/admin/audit?types=user.created,user.deleted", key: admin.secret)
                    #expect(Self.entries(users.json).map(\.type) == ["user.created", "user.deleted"])
                    let aboutHook = try await Self.call(client, .get, "/v1/admin/audit?resource=webhook:\(hookID)", key: admin.secret)
                    #expect(Self.entries(aboutHook.json).count == 3)
                    #expect(
                        try await Self.call(client, .get, "/v1/admin/audit?types=job.completed", key: admin.secret).status == .badRequest)
                    #expect(try await Self.call(client, .get, "/v1/admin/audit", key: jobs).status == .forbidden)
                    let others = try await Self.call(client, .get, "/v1/admin/audit?limit=100", key: otherAdmin)
                    #expect(Self.entries(others.json).allSatisfy { $0.resource != "key:\(keyID)" && $0.actor != actor })
                }
            }
        }
    }
}
