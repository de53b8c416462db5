import Hummingbird
import Store

/// Lets a request through to the routes it guards only when its API key has `scope`. With
/// authentication off (a loopback-only server) every request passes.
package struct RequireScope: RouterMiddleware {
    package typealias Context = ConduitRequestContext

    package let scope: Scope
    package let authentication: Bool

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard authentication else { return try await next(request, context) }
        guard let identity = context.identity else {
            throw APIKeyAuthenticator.unauthorized("no API key: send it as 'Authorization: Bearer KEY'", code: "missing_api_key")
        }
        guard identity.scopes.contains(scope) else { throw Self.lacking(scope) }
        return try await next(request, context)
    }

    /// The refusal of credentials without `scope`.
    package static func lacking(_ scope: Scope) -> APIError {
        APIError(
            status: .forbidden, message: "these credentials lack the '\(scope.rawValue)' scope", type: "permission_error",
            code: "insufficient_scope")
    }
}
