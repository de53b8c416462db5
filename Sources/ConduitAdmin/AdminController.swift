import ConduitCore
import Foundation
import HTTPTypes
import Hummingbird
import Store

/// The admin API, for keys with the `admin` scope, always within the caller's own team: another
/// team's objects do not exist for it (404, never 403, so ids cannot be probed).
///
/// `GET /v1/admin/teams` (the caller's team), `GET|POST /v1/admin/users`, `PATCH|DELETE /v1/admin/users/{id}`, `GET|POST /v1/admin/keys`,
/// `DELETE /v1/admin/keys/{id}` (revoke), `POST /v1/admin/keys/{id}/rotate`,
/// `GET /v1/admin/usage?from=YYYY-MM-DD&to=YYYY-MM-DD`.
package struct AdminController {
    package let store: Database
    /// US dollars per million tokens, by model.
    package let prices: Live<[String: Double]>

    package struct List<Item: Encodable>: Encodable {
        var object = "list"
        package var data: [Item]
    }

    package struct Key: Encodable {
        package var id: String
        var object = "api_key"
        package var name: String
        package var teamID: String
        package var prefix: String
        package var scopes: [String]
        package var createdAt: Int64
        package var expiresAt: Int64?
        package var revokedAt: Int64?
        package var lastUsedAt: Int64?
        package var limits: Limits
        /// The API version the key's requests get when they name none (`Conduit-Version`).
        package var apiVersion: String?
        /// Only in the answer that creates the key; never again.
        package var secret: String?

        package init(_ key: APIKey, secret: String? = nil) {
            id = key.id
            name = key.name
            teamID = key.teamID
            prefix = key.prefix
            scopes = key.scopes.sorted().map(\.rawValue)
            createdAt = StoreTime.seconds(key.createdAt)
            expiresAt = StoreTime.seconds(key.expiresAt)
            revokedAt = StoreTime.seconds(key.revokedAt)
            lastUsedAt = StoreTime.seconds(key.lastUsedAt)
            limits = key.limits
            apiVersion = key.apiVersion
            self.secret = secret
        }
    }

    /// A team as the API shows it (times in seconds).
    package struct TeamView: Encodable {
        package var id: String
        package var name: String
        package var createdAt: Int64
        package var limits: Limits

        package init(_ team: Team) {
            id = team.id
            name = team.name
            createdAt = StoreTime.seconds(team.createdAt)
            limits = team.limits
        }
    }

    /// A user as the API shows it (never the password's hash).
    package struct UserView: Encodable {
        package var id: String
        package var teamID: String
        package var email: String
        package var role: Role
        package var createdAt: Int64

        package init(_ user: User) {
            id = user.id
            teamID = user.teamID
            email = user.email
            role = user.role
            createdAt = StoreTime.seconds(user.createdAt)
        }
    }

    package struct NewKey: Decodable {
        package var name: String
        package var scopes: [String]?
        package var expiresInDays: Int?
        /// The version to pin the key to; the latest by default.
        package var apiVersion: String?

        package enum CodingKeys: String, CodingKey {
            case name, scopes
            case expiresInDays = "expires_in_days"
            case apiVersion = "api_version"
        }
    }

    package struct NewUser: Decodable {
        package var email: String
        package var password: String
        package var role: String?
    }

    /// A team's admin grants, rotates and revokes its team's scopes; only an operator handles an operator key
    /// (rotating one would hand its powers to whoever rotates it).
    private static func requireOperator(for scopes: Set<Scope>, caller: Identity) throws {
        guard scopes.contains(.operator), !caller.scopes.contains(.operator) else { return }
        throw APIError(
            status: .forbidden, message: "only credentials with the 'operator' scope can grant or handle it", type: "permission_error",
            param: "scopes", code: "insufficient_scope")
    }

    private func requireOperator(forKey id: String, caller: Identity) async throws {
        if let key = try await store.keys.find(id: id, teamID: caller.teamID) { try Self.requireOperator(for: key.scopes, caller: caller) }
    }

    package struct RoleChange: Decodable {
        package var role: String
    }

    /// Owners are made and managed from the command line: an admin key must not mint, demote or delete an
    /// account above admin.
    private static func assignableRole(_ name: String) throws -> Role {
        guard let role = Role(rawValue: name), role != .owner else {
            throw InvalidInput("role must be admin, member or viewer, got '\(name.bounded())'", param: "role", code: "invalid_value")
        }
        return role
    }

    private static func requireNotOwner(_ id: String, teamID: String, store: Database) async throws {
        if let user = try await store.users.find(id: id), user.teamID == teamID, user.role == .owner {
            throw APIError(
                status: .forbidden, message: "owners are managed from the command line (conduit users)", type: "permission_error",
                code: "owner_protected")
        }
    }

    package struct UsageRow: Encodable {
        package var date: String
        package var model: String
        package var keyID: String?
        package var requests: Int64
        package var errors: Int64
        package var tokens: Int64
        package var averageLatencyMilliseconds: Double
        package var costUSD: Double?

        package enum CodingKeys: String, CodingKey {
            case date, model, requests, errors, tokens
            case keyID = "key_id"
            case averageLatencyMilliseconds = "avg_latency_ms"
            case costUSD = "cost_usd"
        }
    }

    package func addRoutes(to router: some RouterMethods<ConduitRequestContext>) {
        router.get("/v1/admin/teams") { _, context in
            let identity = try Self.caller(context)
            guard let team = try await store.teams.find(id: identity.teamID) else { throw StoreError.notFound("team \(identity.teamID)") }
            return try json(List(data: [TeamView(team)]))
        }
        router.get("/v1/admin/keys") { _, context in
            let identity = try Self.caller(context)
            return try json(List(data: try await store.keys.list(teamID: identity.teamID).map { Key($0) }))
        }
        router.post("/v1/admin/keys") { request, context in
            let identity = try Self.caller(context)
            let body = try await request.decodeJSON(as: NewKey.self, limit: 64 * 1024)
            let scopes = try APIKeyRules.scopes(body.scopes)
            try Self.requireOperator(for: scopes, caller: identity)
            let version = body.apiVersion ?? APIVersions.current.latest
            guard APIVersions.current.knows(version) else {
                throw APIError.invalidRequest(
                    "api_version must be one of \(APIVersions.current.versions.map(\.date).joined(separator: ", "))", param: "api_version",
                    code: "unsupported_version")
            }
            let issued = try await store.keys.create(
                name: try APIKeyRules.name(body.name), teamID: identity.teamID, scopes: scopes,
                expiresAt: try APIKeyRules.expiry(inDays: body.expiresInDays), apiVersion: version)
            return try json(Key(issued.key, secret: issued.secret), status: .created)
        }
        router.delete("/v1/admin/keys/{id}") { _, context in
            let identity = try Self.caller(context)
            let id = try context.parameters.require("id")
            try await requireOperator(forKey: id, caller: identity)
            return try json(Key(try await store.keys.revoke(id: id, teamID: identity.teamID)))
        }
        router.post("/v1/admin/keys/{id}/rotate") { _, context in
            let identity = try Self.caller(context)
            let id = try context.parameters.require("id")
            try await requireOperator(forKey: id, caller: identity)
            let issued = try await store.keys.rotate(id: id, teamID: identity.teamID)
            return try json(Key(issued.key, secret: issued.secret), status: .created)
        }
        router.get("/v1/admin/users") { _, context in
            let identity = try Self.caller(context)
            return try json(List(data: try await store.users.list(teamID: identity.teamID).map(UserView.init)))
        }
        router.post("/v1/admin/users") { request, context in
            let identity = try Self.caller(context)
            let body = try await request.decodeJSON(as: NewUser.self, limit: 16 * 1024)
            let role = try body.role.map(Self.assignableRole) ?? .member
            let user = try await store.users.create(email: body.email, password: body.password, role: role, teamID: identity.teamID)
            return try json(UserView(user), status: .created)
        }
        router.patch("/v1/admin/users/{id}") { request, context in
            let identity = try Self.caller(context)
            let body = try await request.decodeJSON(as: RoleChange.self, limit: 16 * 1024)
            let id = try context.parameters.require("id")
            try await Self.requireNotOwner(id, teamID: identity.teamID, store: store)
            let role = try Self.assignableRole(body.role)
            return try json(UserView(try await store.users.setRole(role, ofUser: id, teamID: identity.teamID)))
        }
        router.delete("/v1/admin/users/{id}") { _, context in
            let identity = try Self.caller(context)
            let id = try context.parameters.require("id")
            try await Self.requireNotOwner(id, teamID: identity.teamID, store: store)
            return try json(UserView(try await store.users.delete(id: id, teamID: identity.teamID)))
        }
        router.get("/v1/admin/usage") { request, context in
            let identity = try Self.caller(context)
            let now = StoreTime.now()
            let start = try Self.day(request.uri.queryParameters["from"], name: "from") ?? (now - now % StoreTime.day - 29 * StoreTime.day)
            let end =
                try Self.day(request.uri.queryParameters["to"], name: "to").map { $0 + StoreTime.day }
                ?? (now - now % StoreTime.day + StoreTime.day)
            let prices = self.prices.current  // once per answer: a reload must not split a report
            let rows = try await store.usage.summary(teamID: identity.teamID, from: start, to: end).map { summary in
                UsageRow(
                    date: Date(timeIntervalSince1970: TimeInterval(summary.day * 86_400)).formatted(Self.dateFormat),
                    model: summary.model, keyID: summary.keyID, requests: summary.requests, errors: summary.errors,
                    tokens: summary.tokens, averageLatencyMilliseconds: (summary.averageLatencyMilliseconds * 10).rounded() / 10,
                    // Priced when served (a chat call, at its deployment's prices), or else by the model's price now.
                    costUSD: summary.spentUSD ?? prices[summary.model].map { Double(summary.tokens) / 1_000_000 * $0 })
            }
            return try json(List(data: rows))
        }
    }

    /// The admin routes exist only with authentication on; their scope is checked where they are mounted.
    private static func caller(_ context: ConduitRequestContext) throws -> Identity {
        guard let identity = context.identity else {
            throw StoreError.notFound("the admin API needs authentication (--auth)")
        }
        return identity
    }

    private static let dateFormat = Date.ISO8601FormatStyle(timeZone: TimeZone(identifier: "UTC")!).year().month().day()

    /// Midnight UTC of a `YYYY-MM-DD` query parameter, in seconds.
    private static func day(_ value: Substring?, name: String) throws -> Int64? {
        guard let value else { return nil }
        guard let date = try? dateFormat.parse(String(value)) else {
            throw InvalidInput("\(name) must be a date as YYYY-MM-DD, got '\(value)'", param: name, code: "invalid_value")
        }
        return Int64(date.timeIntervalSince1970) * StoreTime.second
    }
}
