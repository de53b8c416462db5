import ConduitTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Store
import Testing

@testable import ConduitCore

@Suite("API versions")
struct APIVersioningTests {
    static let versions = APIVersions(
        versions: [
            .init(date: "2026-06-01", summary: "older", sunset: 1_798_761_600),
            .init(date: "2026-12-01", summary: "newer"),
        ],
        deprecations: ["GET /old": .init(since: 1_767_225_600, sunset: 1_798_761_600, link: "https://conduit.example/notes#old")])

    /// A router with the versioning middlewares as the application orders them, a caller pinned to
    /// `pinned`, and routes that answer the version they were served as.
    static func application(pinned: String?) -> some ApplicationProtocol {
        let router = Router(context: ConduitRequestContext.self)
        router.add(middleware: APIVersionEcho(versions: versions))
        router.add(middleware: RequestIDMiddleware())
        router.add(middleware: APIVersionSelection(versions: versions))
        router.add(middleware: Pinning(version: pinned))
        router.get("/now") { _, context in context.apiVersion }
        router.get("/old") { _, context in context.apiVersion }
        return Application(router: router)
    }

    /// Stands for authentication: a key pinned to `version`.
    struct Pinning: RouterMiddleware {
        typealias Context = ConduitRequestContext
        let version: String?

        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            var context = context
            var identity = Identity(teamID: "t", keyID: "k", keyLimits: .none, teamLimits: .none)
            identity.apiVersion = version
            context.identity = identity
            return try await next(request, context)
        }
    }

    @Test(
        "a request is served as the version it names, else its key's, else the latest, and every answer says which; an unknown one is 400")
    func negotiation() async throws {
        try await Self.application(pinned: "2026-06-01").test(.router) { client in
            let pinned = try await client.execute(uri: "/now", method: .get)
            #expect(String(buffer: pinned.body) == "2026-06-01" && pinned.headers[.conduitVersion] == "2026-06-01")
            #expect(pinned.headers[.sunset] == "Fri, 01 Jan 2027 00:00:00 GMT", "the pinned version goes then")
            let named = try await client.execute(uri: "/now", method: .get, headers: [.conduitVersion: "2026-12-01"])
            #expect(String(buffer: named.body) == "2026-12-01" && named.headers[.conduitVersion] == "2026-12-01")
            #expect(named.headers[.sunset] == nil)
            let unknown = try await client.execute(uri: "/now", method: .get, headers: [.conduitVersion: "2025-01-01"])
            #expect(unknown.status == .badRequest && String(buffer: unknown.body).contains("unsupported_version"))
            #expect(unknown.headers[.conduitVersion] == "2026-12-01", "refused before the key is known: the latest says it")
            let missing = try await client.execute(uri: "/nowhere", method: .get)
            #expect(missing.status == .notFound && missing.headers[.conduitVersion] == "2026-06-01")
        }
        try await Self.application(pinned: nil).test(.router) { client in
            let latest = try await client.execute(uri: "/now", method: .get)
            #expect(latest.headers[.conduitVersion] == "2026-12-01", "no pin: the latest")
        }
    }

    @Test("a deprecated route's answers carry Deprecation (RFC 9745), Sunset (RFC 8594) and a Link to the notes")
    func deprecation() async throws {
        try await Self.application(pinned: nil).test(.router) { client in
            let old = try await client.execute(uri: "/old", method: .get)
            #expect(old.headers[.deprecation] == "@1767225600")
            #expect(old.headers[.sunset] == "Fri, 01 Jan 2027 00:00:00 GMT")
            #expect(old.headers[.link] == #"<https://conduit.example/notes#old>; rel="deprecation""#)
            let current = try await client.execute(uri: "/now", method: .get)
            #expect(current.headers[.deprecation] == nil)
        }
    }

    @Test(
        "a key made through the API is pinned to the latest version unless it names one it may; GET /v1/versions says which is the caller's"
    )
    func pinnedKeys() async throws {
        try await TestDatabase.withTeam(.sqlite) { store, team in
            let admin = try await store.keys.create(name: "admin", teamID: team.id, scopes: [.admin], apiVersion: "2026-12-01").secret
            let app = try TestServer.authenticatedApplication(store: store)
            try await app.test(.router) { client in
                let headers: HTTPFields = [.authorization: "Bearer \(admin)", .contentType: "application/json"]
                let made = try await client.execute(
                    uri: "/v1/admin/keys", method: .post, headers: headers, body: ByteBuffer(string: #"{"name":"ci"}"#))
                let key = try JSONSerialization.jsonObject(with: Data(made.body.readableBytesView)) as? [String: Any]
                #expect(made.status == .created && key?["api_version"] as? String == APIVersions.current.latest)
                let refused = try await client.execute(
                    uri: "/v1/admin/keys", method: .post, headers: headers,
                    body: ByteBuffer(string: #"{"name":"x","api_version":"1999-01-01"}"#))
                #expect(refused.status == .badRequest && String(buffer: refused.body).contains("unsupported_version"))
                let listing = try await client.execute(uri: "/v1/versions", method: .get, headers: [.authorization: "Bearer \(admin)"])
                let versions = try JSONSerialization.jsonObject(with: Data(listing.body.readableBytesView)) as? [String: Any]
                #expect(versions?["yours"] as? String == "2026-12-01" && versions?["latest"] as? String == APIVersions.current.latest)
                #expect(listing.headers[.conduitVersion] == "2026-12-01")
            }
        }
    }
}
