import ConduitTestSupport
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SQLKit
import Store
import Testing

@testable import Conduit
@testable import ConduitAdmin
@testable import ConduitCore

@Suite("Access tokens and login")
struct AccessTokenTests {
    static let secret = String(repeating: "k", count: 32)
    let tokens = try! AccessTokens(secret: AccessTokenTests.secret)
    let user = User(id: "u1", teamID: "t1", email: "a@b.c", role: .member, createdAt: 0)

    /// A token with any header and claims, signed with HS256 under `key` (or unsigned).
    private func forge(header: String, claims: [String: Any], key: String? = AccessTokenTests.secret) throws -> String {
        let input =
            Base64URL.encode(Data(header.utf8)) + "." + Base64URL.encode(try JSONSerialization.data(withJSONObject: claims))
        guard let key else { return input + "." }
        let mac = HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: SymmetricKey(data: Data(key.utf8)))
        return input + "." + Base64URL.encode(Data(mac))
    }

    private var claims: [String: Any] {
        ["sub": "u1", "team": "t1", "role": "member", "iss": "conduit", "aud": "conduit-api", "iat": 1000, "exp": 2000, "jti": "x"]
    }

    @Test("a token it issued verifies; alg none, another algorithm, another key, issuer, audience, expiry and nbf are refused")
    func verification() throws {
        let issued = try tokens.issue(for: user, now: 1000)
        #expect(try tokens.verify(issued, now: 1500).sub == "u1")
        #expect(throws: AccessTokens.Failure.expired) { try tokens.verify(issued, now: 1000 + tokens.lifetime) }
        #expect(throws: AccessTokens.Failure.badSignature) {
            try tokens.verify(try forge(header: #"{"alg":"none","typ":"JWT"}"#, claims: claims, key: nil), now: 1500)
        }
        #expect(throws: AccessTokens.Failure.unsupportedAlgorithm) {
            try tokens.verify(try forge(header: #"{"alg":"HS512","typ":"JWT"}"#, claims: claims), now: 1500)
        }
        #expect(throws: AccessTokens.Failure.unsupportedAlgorithm) {
            try tokens.verify(try forge(header: #"{"alg":"RS256","typ":"JWT"}"#, claims: claims), now: 1500)
        }
        let header = #"{"alg":"HS256","typ":"JWT"}"#
        #expect(throws: AccessTokens.Failure.badSignature) {
            try tokens.verify(try forge(header: header, claims: claims, key: String(repeating: "x", count: 32)), now: 1500)
        }
        #expect(throws: AccessTokens.Failure.wrongIssuer) {
            try tokens.verify(try forge(header: header, claims: claims.merging(["iss": "evil"]) { $1 }), now: 1500)
        }
        #expect(throws: AccessTokens.Failure.wrongAudience) {
            try tokens.verify(try forge(header: header, claims: claims.merging(["aud": "other"]) { $1 }), now: 1500)
        }
        #expect(throws: AccessTokens.Failure.notYetValid) {
            try tokens.verify(try forge(header: header, claims: claims.merging(["nbf": 1900]) { $1 }), now: 1500)
        }
        #expect(throws: AccessTokens.Failure.malformed) { try tokens.verify("a.b", now: 1500) }
        #expect(throws: AccessTokens.Failure.badSignature) { try tokens.verify("!!.??.**", now: 1500) }
        #expect(throws: ConfigurationError.self) { try AccessTokens(secret: "short") }
    }

    private func post(_ client: some TestClientProtocol, _ uri: String, _ body: String, bearer: String? = nil) async throws -> (
        HTTPResponse.Status, [String: Any]
    ) {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let bearer { headers[.authorization] = "Bearer \(bearer)" }
        let response = try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: body))
        let json = (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))) as? [String: Any] ?? [:]
        return (response.status, json)
    }

    private func code(_ json: [String: Any]) -> String? { (json["error"] as? [String: Any])?["code"] as? String }

    @Test("login, calls with the access token, refresh rotation, reuse detection, logout, and roles", arguments: Backend.allCases)
    func loginFlow(backend: Backend) async throws {
        try await TestDatabase.withTeam(backend) { store, team in
            _ = try await store.users.create(email: "m@x.io", password: "member-pass", role: .member, teamID: team.id)
            _ = try await store.users.create(email: "v@x.io", password: "viewer-pass", role: .viewer, teamID: team.id)
            let app = try TestServer.authenticatedApplication(store: store) { $0.auth.jwtSecret = AccessTokenTests.secret }
            try await app.test(.live) { client in
                #expect(
                    code(try await post(client, "/v1/auth/login", #"{"email":"m@x.io","password":"nope-nope"}"#).1) == "invalid_credentials"
                )
                let (status, login) = try await post(client, "/v1/auth/login", #"{"email":"m@x.io","password":"member-pass"}"#)
                #expect(status == .ok && login["token_type"] as? String == "bearer" && login["expires_in"] as? Int == 900)
                // The same email and password in another team: the login names the team.
                let other = try await store.teams.create(name: "other")
                let twin = try await store.users.create(email: "m@x.io", password: "member-pass", role: .admin, teamID: other.id)
                let ambiguous = try await post(client, "/v1/auth/login", #"{"email":"m@x.io","password":"member-pass"}"#)
                #expect(ambiguous.0 == .badRequest && code(ambiguous.1) == "invalid_value")
                let named = try await post(client, "/v1/auth/login", #"{"email":"m@x.io","password":"member-pass","team":"other"}"#)
                let namedAccess = try #require(named.1["access_token"] as? String)
                #expect(try AccessTokens(secret: AccessTokenTests.secret).verify(namedAccess).sub == twin.id)
                _ = try await store.users.delete(id: twin.id, teamID: other.id)
                let access = try #require(login["access_token"] as? String)
                let refresh = try #require(login["refresh_token"] as? String)
                #expect(try await post(client, "/v1/embeddings", #"{"input":"hi"}"#, bearer: access).0 == .ok)

                // Tokens this server did not sign, or that expired.
                let foreign = try AccessTokens(secret: String(repeating: "z", count: 32))
                let member = User(id: "x", teamID: team.id, email: "m@x.io", role: .member, createdAt: 0)
                #expect(
                    code(try await post(client, "/v1/embeddings", #"{"input":"hi"}"#, bearer: try foreign.issue(for: member)).1)
                        == "invalid_token")
                let expired = try tokens.issue(for: member, now: StoreTime.seconds(StoreTime.now()) - 3600)
                #expect(code(try await post(client, "/v1/embeddings", #"{"input":"hi"}"#, bearer: expired).1) == "token_expired")
                let unsigned = try forge(
                    header: #"{"alg":"none"}"#,
                    claims: claims.merging(["team": team.id, "exp": StoreTime.seconds(StoreTime.now()) + 60]) { $1 }, key: nil)
                #expect(try await post(client, "/v1/embeddings", #"{"input":"hi"}"#, bearer: unsigned).0 == .unauthorized)

                let (refreshed, pair) = try await post(client, "/v1/auth/refresh", #"{"refresh_token":"\#(refresh)"}"#)
                #expect(refreshed == .ok)
                let next = try #require(pair["refresh_token"] as? String)
                #expect(code(try await post(client, "/v1/auth/refresh", #"{"refresh_token":"\#(refresh)"}"#).1) == "refresh_token_reused")
                #expect(code(try await post(client, "/v1/auth/refresh", #"{"refresh_token":"\#(next)"}"#).1) == "invalid_token")

                let again = try await post(client, "/v1/auth/login", #"{"email":"m@x.io","password":"member-pass"}"#).1
                let third = try #require(again["refresh_token"] as? String)
                #expect(try await post(client, "/v1/auth/logout", #"{"refresh_token":"\#(third)"}"#).0 == .noContent)
                #expect(try await post(client, "/v1/auth/refresh", #"{"refresh_token":"\#(third)"}"#).0 == .unauthorized)

                // A user deleted after login: the token stops working at once.
                try await store.read { try await $0.raw("DELETE FROM users WHERE email = 'm@x.io'").run() }
                #expect(code(try await post(client, "/v1/embeddings", #"{"input":"hi"}"#, bearer: access).1) == "invalid_token")

                // Guessing: the 11th attempt within 60 seconds, on one account from one address, is refused before
                // the password is checked.
                // A minute is weighed across its boundary with the previous one's share rounded down, which lets one
                // more through there ("a minute window slides"): the burst starts well inside a minute.
                let intoMinute = StoreTime.now() % StoreTime.minute
                if intoMinute > 40_000 { try await Task.sleep(for: .milliseconds(StoreTime.minute - intoMinute + 50)) }
                var last = HTTPResponse.Status.ok
                for _ in 0..<11 { last = try await post(client, "/v1/auth/login", #"{"email":"v@x.io","password":"guess-guess"}"#).0 }
                #expect(last == .tooManyRequests)

                let viewer = try await post(client, "/v1/auth/login", #"{"email":"V@x.io ","password":"viewer-pass"}"#).1
                #expect(code(viewer) == "rate_limit_exceeded")  // the same account, however its email is spelled
                let viewerUser = try #require(try await store.users.authenticate(email: "v@x.io", password: "viewer-pass"))
                let viewerAccess = try AccessTokens(secret: AccessTokenTests.secret).issue(for: viewerUser)
                #expect(code(try await post(client, "/v1/embeddings", #"{"input":"hi"}"#, bearer: viewerAccess).1) == "insufficient_scope")

                // One client trying many accounts: refused by its address once past 30 attempts in 60 seconds.
                let limit = Int(AuthController.attemptsPerAddressPerMinute)
                var refusal: [String: Any]?
                var attempts = 0
                while refusal == nil && attempts <= 2 * limit {
                    let email = "nobody\(attempts)@x.io"
                    let (status, body) = try await post(client, "/v1/auth/login", #"{"email":"\#(email)","password":"guess-guess"}"#)
                    if status == .tooManyRequests { refusal = body } else { #expect(code(body) == "invalid_credentials") }
                    attempts += 1
                }
                #expect(((refusal?["error"] as? [String: Any])?["message"] as? String)?.contains("from this address") == true)
            }
        }
    }
}
