import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Store

/// Authenticates every request but the health probes by its API key, sent as OpenAI clients send
/// it (`Authorization: Bearer KEY`), and puts the caller's ``Identity`` in the context. Which scope a
/// route needs is checked where the route is declared (``RequireScope``).
struct APIKeyAuthenticator: RouterMiddleware {
    typealias Context = ConduitRequestContext

    let store: Database

    /// Paths anyone may call: load balancers and orchestrators probe them without credentials.
    static let publicPathPrefix = "/health/"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if request.uri.path.hasPrefix(Self.publicPathPrefix) { return try await next(request, context) }
        guard let secret = Self.bearerToken(request.headers[.authorization]) else {
            throw Self.unauthorized(
                "no API key: send it as 'Authorization: Bearer KEY'", code: "missing_api_key")
        }
        guard let key = try await store.apiKey(secret: secret) else {
            throw Self.unauthorized("incorrect API key", code: "invalid_api_key")
        }
        let now = Timestamp.now()
        if key.revokedAt != nil { throw Self.unauthorized("this API key was revoked", code: "invalid_api_key") }
        guard key.isUsable(at: now) else { throw Self.unauthorized("this API key has expired", code: "invalid_api_key") }
        try await store.touchAPIKey(key, at: now)
        var context = context
        context.identity = Identity(key: key, team: try await store.team(key.teamID))
        context.logger[metadataKey: "team"] = .string(key.teamID)
        context.logger[metadataKey: "key_id"] = .string(key.id)
        return try await next(request, context)
    }

    /// The token of a `Bearer` authorization (the scheme is case-insensitive), or nil.
    static func bearerToken(_ header: String?) -> String? {
        guard let header, header.count > 7, header.prefix(7).lowercased() == "bearer " else { return nil }
        let token = header.dropFirst(7).trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }

    static func unauthorized(_ message: String, code: String) -> APIError {
        APIError(
            status: .unauthorized, message: message, type: "authentication_error", code: code,
            headers: [.wwwAuthenticate: #"Bearer realm="conduit""#])
    }
}
