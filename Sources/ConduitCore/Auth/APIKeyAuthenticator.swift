import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Store
import Tracing

/// Authenticates every request but the health probes, the API's description and the login routes, by the bearer token
/// OpenAI clients send (`Authorization: Bearer TOKEN`): an API key, or a user's access token (a
/// JWT), and puts the caller's ``Identity`` in the context. Which scope a route needs is checked where
/// the route is declared (``RequireScope``).
package struct APIKeyAuthenticator: RouterMiddleware {
    package typealias Context = ConduitRequestContext

    package let store: Database
    /// Nil when no signing key is configured: then only API keys are accepted.
    package let accessTokens: AccessTokens?

    package init(store: Database, accessTokens: AccessTokens?) {
        self.store = store
        self.accessTokens = accessTokens
    }

    /// Paths anyone may call, matched whole: load balancers probe health without credentials, clients
    /// and tools read the API's description (which holds no secret), and logging in is how a user gets
    /// credentials. (A prefix would also open whatever a later route
    /// or a path such as `/health/../v1/admin/keys` puts under it.)
    package static let publicPaths: Set<String> = [
        "/health/live", "/health/ready", "/openapi.json", "/v1/auth/login", "/v1/auth/refresh", "/v1/auth/logout",
    ]

    /// Whether `path` is one of `publicPaths`, read as the router reads it (empty segments skipped, so
    /// a probe of `/health/live/` reaches the health handler and passes here too).
    package static func isPublic(_ path: String) -> Bool {
        publicPaths.contains("/" + path.split(separator: "/").joined(separator: "/"))
    }

    /// Paths a browser opens as a WebSocket or an EventSource, which cannot carry an `Authorization`
    /// header: they also take a single-use ticket (`?ticket=`, from `POST /v1/ws/tickets`) in its place.
    package static let ticketPaths: Set<String> = ["/v1/ws", "/v1/events/stream"]

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if Self.isPublic(request.uri.path) { return try await next(request, context) }
        let authenticated: Context
        if request.headers[.authorization] == nil, Self.ticketPaths.contains(request.uri.path),
            let ticket = request.uri.queryParameters["ticket"].map(String.init)
        {
            authenticated = try await authenticate(ticket: ticket, context: context)
        } else {
            authenticated = try await withSpan("authenticate") { _ in try await authenticate(request, context: context) }
        }
        // What the request changes is recorded as the caller's doing (the audit trail).
        return try await EventActor.$current.withValue(authenticated.identity?.holder) { try await next(request, authenticated) }
    }

    /// The context with the caller's identity, or a 401.
    private func authenticate(_ request: Request, context: Context) async throws -> Context {
        guard let secret = Self.bearerToken(request.headers[.authorization]) else {
            throw Self.unauthorized(
                "no API key: send it as 'Authorization: Bearer KEY'", code: "missing_api_key")
        }
        if AccessTokens.looksLikeToken(secret) { return try await authenticateUser(token: secret, context: context) }
        guard let (key, teamLimits) = try await store.keys.findWithTeamLimits(secret: secret) else {
            throw Self.unauthorized("incorrect API key", code: "invalid_api_key")
        }
        let now = StoreTime.now()
        if key.revokedAt != nil { throw Self.unauthorized("this API key was revoked", code: "invalid_api_key") }
        guard key.isUsable(at: now) else { throw Self.unauthorized("this API key has expired", code: "invalid_api_key") }
        try await store.keys.touch(key, at: now)
        var context = context
        context.identity = Identity(key: key, teamLimits: teamLimits)
        context.logger[metadataKey: "team"] = .string(key.teamID)
        context.logger[metadataKey: "key_id"] = .string(key.id)
        return context
    }

    /// The context of the ticket's holder, as it would be with their own credentials, or a 401.
    private func authenticate(ticket secret: String, context: Context) async throws -> Context {
        guard let ticket = try await store.webSocketTickets.find(secret: secret) else {
            throw Self.unauthorized("the ticket is unknown, expired or already used; ask for a new one", code: "invalid_ticket")
        }
        var context = context
        switch ticket.holder {
        case .key(let key, let teamLimits):
            guard key.isUsable(at: StoreTime.now()) else {
                throw Self.unauthorized("the ticket's API key was revoked or expired", code: "invalid_ticket")
            }
            context.identity = Identity(key: key, teamLimits: teamLimits)
            context.logger[metadataKey: "key_id"] = .string(key.id)
        case .user(let user, let teamLimits):
            context.identity = Identity(user: user, teamLimits: teamLimits)
            context.logger[metadataKey: "user_id"] = .string(user.id)
        }
        context.logger[metadataKey: "team"] = .string(context.identity?.teamID ?? "")
        context.ticket = ticket.id
        return context
    }

    private func authenticateUser(token: String, context: Context) async throws -> Context {
        guard let accessTokens else { throw Self.unauthorized("access tokens are not enabled on this server", code: "invalid_token") }
        let claims: AccessTokens.Claims
        do {
            claims = try accessTokens.verify(token)
        } catch .expired {
            throw Self.unauthorized("the access token has expired; refresh it at /v1/auth/refresh", code: "token_expired")
        } catch {
            throw Self.unauthorized("invalid access token", code: "invalid_token")
        }
        // The token says who; the store says what they may do now: a deleted user's token stops working,
        // a demoted one's loses its scopes, at once rather than when the token expires.
        guard let (user, teamLimits) = try await store.users.findWithTeamLimits(id: claims.sub) else {
            throw Self.unauthorized("invalid access token", code: "invalid_token")
        }
        var context = context
        context.identity = Identity(user: user, teamLimits: teamLimits)
        context.logger[metadataKey: "team"] = .string(user.teamID)
        context.logger[metadataKey: "user_id"] = .string(claims.sub)
        return context
    }

    /// The token of a `Bearer` authorization (the scheme is case-insensitive), or nil.
    /// Read byte by byte: it runs on every request, where counting characters, lower-casing and
    /// Foundation's trimming cost microseconds.
    package static func bearerToken(_ header: String?) -> String? {
        guard var bytes = header?.utf8[...] else { return nil }
        let scheme = "bearer ".utf8
        let lowercased = { (byte: UInt8) in (0x41...0x5A).contains(byte) ? byte | 0x20 : byte }
        guard bytes.count > scheme.count, bytes.prefix(scheme.count).map(lowercased).elementsEqual(scheme) else { return nil }
        bytes = bytes.dropFirst(scheme.count)
        // HTTP's optional whitespace: spaces and tabs.
        let isBlank = { (byte: UInt8) in byte == 0x20 || byte == 0x09 }
        while let first = bytes.first, isBlank(first) { bytes = bytes.dropFirst() }
        while let last = bytes.last, isBlank(last) { bytes = bytes.dropLast() }
        return bytes.isEmpty ? nil : String(Substring(bytes))
    }

    package static func unauthorized(_ message: String, code: String) -> APIError {
        APIError(
            status: .unauthorized, message: message, type: "authentication_error", code: code,
            headers: [.wwwAuthenticate: #"Bearer realm="conduit""#])
    }
}
