import ConduitTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SQLKit
import Testing

@testable import Conduit
@testable import ConduitAdmin
@testable import ConduitCore
@testable import ConduitEmbeddings
@testable import Store

@Suite("Authentication and scopes")
struct AuthenticationTests {
    @Test(
        "a bearer token is read whatever the scheme's case and the blanks around it; any other header is no token",
        arguments: [
            ("Bearer ck_abc", "ck_abc"), ("bearer ck_abc", "ck_abc"), ("BEARER \t ck_abc \t", "ck_abc"), ("Bearer ck é", "ck é"),
            ("Bearer ", nil), ("Bearer  \t", nil), ("Bearerck_abc", nil), ("Basic ck_abc", nil), ("Bearer\u{0}ck_abc", nil), ("", nil),
            ("Béarer ck_abc", nil),
        ] as [(String, String?)])
    func bearerToken(header: String, token: String?) {
        #expect(APIKeyAuthenticator.bearerToken(header) == token)
    }

    private struct ErrorBody: Decodable {
        struct Detail: Decodable {
            var code: String?
            var type: String
        }
        var error: Detail
    }

    private func embed(_ client: some TestClientProtocol, authorization: String?) async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let authorization { headers[.authorization] = authorization }
        return try await client.execute(
            uri: "/v1/embeddings", method: .post, headers: headers, body: ByteBuffer(string: #"{"input":"hello"}"#))
    }

    @Test(
        "every kind of bad credential gets its 401 or 403 in the error shape; a good key gets through",
        arguments: Backend.allCases)
    func matrix(backend: Backend) async throws {
        try await TestDatabase.withTeam(backend) { store, team in
            let good = try await store.keys.create(name: "good", teamID: team.id, scopes: [.embeddings])
            let chatOnly = try await store.keys.create(name: "chat", teamID: team.id, scopes: [.chat])
            let revoked = try await store.keys.create(name: "revoked", teamID: team.id, scopes: [.embeddings])
            _ = try await store.keys.revoke(id: revoked.key.id, teamID: team.id)
            let expired = try await store.keys.create(name: "expired", teamID: team.id, scopes: [.embeddings], expiresAt: 1)
            let app = try TestServer.authenticatedApplication(store: store)
            try await app.test(.router) { client in
                let cases: [(String, String?, HTTPResponse.Status, String)] = [
                    ("no key", nil, .unauthorized, "missing_api_key"),
                    ("not bearer", "Basic \(good.secret)", .unauthorized, "missing_api_key"),
                    ("malformed", "Bearer short", .unauthorized, "invalid_api_key"),
                    ("unknown", "Bearer \(APIKeySecretForTests.unknown)", .unauthorized, "invalid_api_key"),
                    ("revoked", "Bearer \(revoked.secret)", .unauthorized, "invalid_api_key"),
                    ("expired", "Bearer \(expired.secret)", .unauthorized, "invalid_api_key"),
                    ("wrong scope", "Bearer \(chatOnly.secret)", .forbidden, "insufficient_scope"),
                ]
                for (name, authorization, status, code) in cases {
                    let response = try await embed(client, authorization: authorization)
                    #expect(response.status == status, "\(name)")
                    #expect(
                        try JSONDecoder().decode(ErrorBody.self, from: Data(response.body.readableBytesView)).error.code == code, "\(name)")
                    #expect(response.headers[.requestID] != nil, "\(name)")
                    if status == .unauthorized { #expect(response.headers[.wwwAuthenticate] != nil, "\(name)") }
                }
                #expect(try await embed(client, authorization: "Bearer \(good.secret)").status == .ok)
                #expect(try await embed(client, authorization: "bearer  \(good.secret) ").status == .ok)
                // Health probes stay public; listing models needs a key, any scope.
                #expect(try await client.execute(uri: "/health/live", method: .get).status == .ok)
                #expect(try await client.execute(uri: "/health/live/", method: .get).status == .ok)
                #expect(try await client.execute(uri: "/v1/models", method: .get).status == .unauthorized)
                #expect(
                    try await client.execute(uri: "/v1/models", method: .get, headers: [.authorization: "Bearer \(chatOnly.secret)"]).status
                        == .ok)
            }
            #expect(try await store.keys.find(secret: good.secret)?.lastUsedAt != nil)
        }
    }

    @Test(
        "a key found is trusted for auth.key_cache_seconds without reading the store: a change behind the node's back applies once that passes, one made through this node at once; its use is written once a minute"
    )
    func keyCache() async throws {
        try await TestDatabase.withTeam(.sqlite) { store, team in
            store.authenticatedKeys.lifetime = .seconds(60)
            let created = try await store.keys.create(name: "k", teamID: team.id, scopes: [.embeddings])
            func found() async throws -> (key: APIKey, teamLimits: Limits)? {
                try await store.keys.findWithTeamLimits(secret: created.secret)
            }
            #expect(try await found()?.key.revokedAt == nil)

            // Another node revokes it: this one trusts what it found until the lifetime has passed.
            try await store.transaction { sql in
                try await sql.raw("UPDATE api_keys SET revoked_at = 1 WHERE id = \(bind: created.key.id)").run()
            }
            #expect(try await found()?.key.revokedAt == nil)
            store.authenticatedKeys.lifetime = .milliseconds(5)
            try await Task.sleep(for: .milliseconds(10))
            #expect(try await found()?.key.revokedAt == 1)
            store.authenticatedKeys.lifetime = .seconds(60)

            // What this node changes applies at once: a key's limits, its revocation, its team's limits.
            let other = try await store.keys.create(name: "other", teamID: team.id, scopes: [.embeddings])
            func foundOther() async throws -> (key: APIKey, teamLimits: Limits)? {
                try await store.keys.findWithTeamLimits(secret: other.secret)
            }
            _ = try await foundOther()
            try await store.keys.setLimits(Limits(requestsPerMinute: 5), forKey: other.key.id)
            #expect(try await foundOther()?.key.limits.requestsPerMinute == 5)
            try await store.teams.setLimits(Limits(tokensPerMinute: 7), forTeam: team.id)
            #expect(try await foundOther()?.teamLimits.tokensPerMinute == 7)
            try await store.keys.touch(try #require(try await foundOther()?.key))
            #expect(try await foundOther()?.key.lastUsedAt != nil, "the kept key knows it was used: no write on every request")
            _ = try await store.keys.revoke(id: other.key.id, teamID: team.id)
            #expect(try await foundOther()?.key.revokedAt != nil)

            // A read begun before this node forgot a key is not kept after it: it may hold the row from before.
            let stale = store.authenticatedKeys.generation()
            store.authenticatedKeys.forget(keyID: "another")
            store.authenticatedKeys.keep(other.key, teamLimits: .none, secretHash: "read-before", now: StoreTime.now(), readAt: stale)
            #expect(store.authenticatedKeys.find(secretHash: "read-before", now: StoreTime.now()) == nil)

            // Zero keeps none.
            store.authenticatedKeys.lifetime = .zero
            let third = try await store.keys.create(name: "third", teamID: team.id, scopes: [.embeddings])
            _ = try await store.keys.findWithTeamLimits(secret: third.secret)
            try await store.transaction { sql in
                try await sql.raw("UPDATE api_keys SET revoked_at = 2 WHERE id = \(bind: third.key.id)").run()
            }
            #expect(try await store.keys.findWithTeamLimits(secret: third.secret)?.key.revokedAt == 2)
        }
    }

    @Test("without authentication the server refuses to bind beyond loopback")
    func loopbackOnly() throws {
        #expect(throws: ConfigurationError.self) { try ServerConfiguration(host: "0.0.0.0").validate() }
        try ServerConfiguration(host: "0.0.0.0", authentication: true).validate()
        try ServerConfiguration(host: "127.0.0.1").validate()
    }

    @Test("only the health and login paths themselves are public; an operator's key with dots is a key, not a token")
    func publicPathsAndDottedKeys() async throws {
        try await TestDatabase.with(.sqlite) { store in
            let dotted = "my.admin.key-" + String(repeating: "x", count: 32)
            _ = try await AdminBootstrap.ensureAdminKey(in: store, logger: TestDatabase.logger, given: dotted)
            let app = try TestServer.authenticatedApplication(store: store)
            try await app.test(.router) { client in
                for path in ["/health/../v1/admin/keys", "/health/x/../../v1/admin/keys", "/v1/auth/../admin/keys", "/health/live/extra"] {
                    let status = try await client.execute(uri: path, method: .get).status
                    #expect(status == .unauthorized, "\(path)")
                }
                #expect(try await client.execute(uri: "/health/live", method: .get).status == .ok)
                #expect(try await client.execute(uri: "/health/live/", method: .get).status == .ok)
                let keys = try await client.execute(uri: "/v1/admin/keys", method: .get, headers: [.authorization: "Bearer \(dotted)"])
                #expect(keys.status == .ok)
            }
        }
    }

    @Test("login attempts count per IPv4 address and per IPv6 /64; an IPv4-mapped address is its IPv4 address")
    func loginClientNetwork() throws {
        func network(_ ip: String) throws -> String? { AuthController.clientNetwork(try SocketAddress(ipAddress: ip, port: 1)) }
        #expect(try network("10.1.2.3") == "10.1.2.3")
        #expect(try network("::ffff:10.1.2.3") == "10.1.2.3")
        #expect(try network("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64")
        #expect(try network("2001:db8:1:2:ffff::1") == network("2001:db8:1:2::9"))
        #expect(try network("2001:db8:1:3::1") != network("2001:db8:1:2::1"))
    }

    @Test("the first start with authentication creates one admin key and prints it once; a supplied key is stored hashed")
    func bootstrap() async throws {
        try await TestDatabase.with(.sqlite) { store in
            let first = try await AdminBootstrap.ensureAdminKey(in: store, logger: TestDatabase.logger, given: nil)
            let secret = try #require(first)
            #expect(try await store.keys.find(secret: secret)?.scopes == Set(Scope.allCases))
            #expect(try await AdminBootstrap.ensureAdminKey(in: store, logger: TestDatabase.logger, given: nil) == nil)
            let supplied = String(repeating: "s3cret-", count: 6)
            #expect(try await AdminBootstrap.ensureAdminKey(in: store, logger: TestDatabase.logger, given: supplied) == nil)
            let stored = try #require(try await store.keys.find(secret: supplied))
            #expect(stored.prefix == "s3cr" && stored.scopes.contains(.admin))
            #expect(try await AdminBootstrap.ensureAdminKey(in: store, logger: TestDatabase.logger, given: supplied) == nil)
            #expect(try await store.keys.list(teamID: nil).count == 2)
        }
    }
}

/// A well-formed key that no store has issued.
enum APIKeySecretForTests {
    static let unknown = "cdt_" + String(repeating: "A", count: 43)
}

@Suite("Rate limits over HTTP")
struct RateLimitHTTPTests {
    private struct ErrorBody: Decodable {
        struct Detail: Decodable { var code: String? }
        var error: Detail
    }

    private func embed(_ client: some TestClientProtocol, _ secret: String) async throws -> TestResponse {
        try await client.execute(
            uri: "/v1/embeddings", method: .post, headers: [.contentType: "application/json", .authorization: "Bearer \(secret)"],
            body: ByteBuffer(string: #"{"input":"hello world"}"#))
    }

    @Test(
        "requests refused before admission count toward the key's request limit; a 100 kB model name is echoed and stored only bounded"
    )
    func refusedRequestsCount() async throws {
        try await TestDatabase.with(.sqlite) { store in
            let team = try await store.teams.create(name: "limited")
            let key = try await store.keys.create(name: "k", teamID: team.id, scopes: [.embeddings])
            try await store.keys.setLimits(Limits(requestsPerMinute: 3, tokensPerMinute: 1_000), forKey: key.key.id)
            try await startEarlyInAMinute()
            let app = try TestServer.authenticatedApplication(store: store)
            let model = String(repeating: "m", count: 100_000)
            try await app.test(.router) { client in
                for _ in 0..<3 {
                    let refused = try await client.execute(
                        uri: "/v1/embeddings", method: .post,
                        headers: [.contentType: "application/json", .authorization: "Bearer \(key.secret)"],
                        body: ByteBuffer(string: #"{"model":"\#(model)","input":"hello"}"#))
                    #expect(refused.status == .notFound)
                    #expect(refused.body.readableBytes < 2_000, "\(refused.body.readableBytes) bytes")
                }
                #expect(try await embed(client, key.secret).status == .tooManyRequests, "the refused requests counted")
            }
            let usage = try await eventually(within: .seconds(10)) {
                let rows = try await store.usage.summary(teamID: team.id, from: 0, to: .max)
                return rows.isEmpty ? nil : rows
            }
            let rows = try #require(usage)
            #expect(rows.allSatisfy { $0.model.utf8.count <= 256 }, "\(rows.map(\.model.utf8.count))")
        }
    }

    @Test("past a key's rate limit: 429 rate_limit_exceeded with Retry-After; past the team's monthly budget: insufficient_quota")
    func refusals() async throws {
        try await TestDatabase.with(.sqlite) { store in
            let team = try await store.teams.create(name: "limited")
            let key = try await store.keys.create(name: "k", teamID: team.id, scopes: [.embeddings])
            try await store.keys.setLimits(Limits(requestsPerMinute: 2, tokensPerMinute: 1_000), forKey: key.key.id)
            try await startEarlyInAMinute()
            let app = try TestServer.authenticatedApplication(store: store)
            try await app.test(.router) { client in
                let first = try await embed(client, key.secret)
                #expect(first.status == .ok)
                #expect(first.headers[HTTPField.Name("x-ratelimit-limit-requests")!] == "2")
                #expect(first.headers[HTTPField.Name("x-ratelimit-remaining-requests")!] == "1")
                #expect(first.headers[HTTPField.Name("x-ratelimit-remaining-tokens")!] == "996")  // [CLS] hello world [SEP]
                #expect(first.headers[HTTPField.Name("x-ratelimit-reset-requests")!]?.hasSuffix("s") == true)
                #expect(try await embed(client, key.secret).status == .ok)
                let refused = try await embed(client, key.secret)
                #expect(refused.status == .tooManyRequests)
                #expect(
                    try JSONDecoder().decode(ErrorBody.self, from: Data(refused.body.readableBytesView)).error.code == "rate_limit_exceeded"
                )
                #expect(refused.headers[.retryAfter].flatMap(Int.init).map { (1...60).contains($0) } == true)
                #expect(refused.headers[HTTPField.Name("x-ratelimit-remaining-requests")!] == "0")
            }

            let big = try await store.keys.create(name: "big", teamID: team.id, scopes: [.embeddings])
            try await store.keys.setLimits(Limits(tokensPerMinute: 3), forKey: big.key.id)
            let bigApp = try TestServer.authenticatedApplication(store: store)
            try await bigApp.test(.router) { client in
                let tooLarge = try await embed(client, big.secret)
                #expect(tooLarge.status == .badRequest)
                #expect(
                    try JSONDecoder().decode(ErrorBody.self, from: Data(tooLarge.body.readableBytesView)).error.code == "request_too_large")
            }

            let other = try await store.keys.create(name: "other", teamID: team.id, scopes: [.embeddings])
            try await store.teams.setLimits(Limits(monthlyTokens: 4), forTeam: team.id)
            let quotaApp = try TestServer.authenticatedApplication(store: store)
            try await quotaApp.test(.router) { client in
                #expect(try await embed(client, other.secret).status == .ok)
                let refused = try await embed(client, other.secret)
                #expect(refused.status == .tooManyRequests)
                #expect(
                    try JSONDecoder().decode(ErrorBody.self, from: Data(refused.body.readableBytesView)).error.code == "insufficient_quota")
            }
        }
    }
}

@Suite("Refunds")
struct RefundTests {
    @Test("a request the server did not serve (503) is not charged to the caller's limits")
    func unservedIsRefunded() async throws {
        try await TestDatabase.withTeam(.sqlite) { store, team in
            let key = try await store.keys.create(name: "k", teamID: team.id, scopes: [.embeddings])
            try await store.keys.setLimits(Limits(requestsPerMinute: 1), forKey: key.key.id)
            try await startEarlyInAMinute()
            // Every request expires in the queue before it is computed.
            let app = try TestServer.authenticatedApplication(store: store) { $0.scheduler.requestTimeout = .nanoseconds(1) }
            try await app.test(.router) { client in
                for _ in 0..<3 {
                    let response = try await client.execute(
                        uri: "/v1/embeddings", method: .post,
                        headers: [.contentType: "application/json", .authorization: "Bearer \(key.secret)"],
                        body: ByteBuffer(string: #"{"input":"never computed"}"#))
                    #expect(response.status == .serviceUnavailable)
                }
            }
        }
    }
}

@Suite("Limits under concurrency, secrets in logs")
struct LimitConcurrencyTests {
    @Test("100 concurrent requests against a key's budget for 10: exactly 10 answered, 90 refused with 429", arguments: Backend.allCases)
    func hundredAgainstTen(backend: Backend) async throws {
        try await TestDatabase.withTeam(backend) { store, team in
            let key = try await store.keys.create(name: "k", teamID: team.id, scopes: [.embeddings])
            try await store.keys.setLimits(Limits(requestsPerMinute: 10), forKey: key.key.id)
            try await startEarlyInAMinute()
            let app = try TestServer.authenticatedApplication(store: store)
            try await app.test(.router) { client in
                let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                    for index in 0..<100 {
                        group.addTask {
                            try await client.execute(
                                uri: "/v1/embeddings", method: .post,
                                headers: [.contentType: "application/json", .authorization: "Bearer \(key.secret)"],
                                body: ByteBuffer(string: #"{"input":"request \#(index)"}"#)
                            ).status
                        }
                    }
                    return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
                }
                #expect(statuses.filter { $0 == .ok }.count == 10)
                #expect(statuses.filter { $0 == .tooManyRequests }.count == 90)
            }
        }
    }

    @Test("keys, passwords and tokens never reach a log line or an error body")
    func secretsStayOut() async throws {
        let captured = LogCapture()
        try await TestDatabase.withTeam(.sqlite) { store, team in
            let key = try await store.keys.create(name: "k", teamID: team.id, scopes: [.chat])
            _ = try await store.users.create(email: "u@x.io", password: "very-secret-pass", role: .member, teamID: team.id)
            let app = try TestServer.authenticatedApplication(store: store, logger: captured.logger) {
                $0.auth.jwtSecret = String(repeating: "j", count: 32)
            }
            let bodies = try await app.test(.router) { client in
                var bodies: [String] = []
                let requests: [(String, HTTPFields, String)] = [
                    ("/v1/embeddings", [.authorization: "Bearer \(key.secret)"], #"{"input":"x"}"#),
                    ("/v1/embeddings", [.authorization: "Bearer \(key.secret)x"], #"{"input":"x"}"#),
                    ("/v1/auth/login", [:], #"{"email":"u@x.io","password":"very-secret-pass"}"#),
                    ("/v1/auth/login", [:], #"{"email":"u@x.io","password":"very-secret-typo"}"#),
                ]
                for (uri, extra, body) in requests {
                    var headers: HTTPFields = [.contentType: "application/json"]
                    headers.append(contentsOf: extra)
                    let response = try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: body))
                    bodies.append(String(buffer: response.body))
                }
                return bodies
            }
            let logs = captured.text
            #expect(!logs.isEmpty)
            for secret in [key.secret, "very-secret-pass", "very-secret-typo", String(repeating: "j", count: 32)] {
                #expect(!logs.contains(secret), "a secret reached the log")
                #expect(!bodies.dropFirst(2).contains { $0.contains(secret) }, "a secret reached an error body")
            }
            #expect(!bodies[1].contains(key.secret))
            // The access line says who called (team and key id, never the key) and what came of it.
            let access = logs.split(separator: "\n").filter { $0.hasPrefix("info request ") }
            #expect(access.count == 4)
            #expect(
                access.first.map { $0.contains("team=\(team.id)") && $0.contains("key_id=\(key.key.id)") && $0.contains("status=403") }
                    == true)
        }
    }
}
