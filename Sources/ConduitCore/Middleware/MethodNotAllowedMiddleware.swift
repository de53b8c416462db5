import HTTPTypes
import Hummingbird

/// A path that is served, asked with a method it is not served with, is 405 with `Allow` listing the
/// methods it is (RFC 9110), not the router's 404: a client then knows its method is wrong, not its path.
package struct MethodNotAllowedMiddleware: RouterMiddleware {
    package typealias Context = ConduitRequestContext

    let routes: RouteTable

    package init(routes: RouteTable) { self.routes = routes }

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            // A route that was found and answered 404 itself (an unknown id) is not the router's miss, which
            // Hummingbird names "NotFound".
            guard (context.endpointPath ?? Self.routerMiss) == Self.routerMiss, APIError(error).status == .notFound else { throw error }
            let allowed = routes.methods(at: request.uri.path)
            guard !allowed.isEmpty else { throw error }
            let list = Array(Set(allowed)).sorted().joined(separator: ", ")
            throw APIError(
                status: .methodNotAllowed, message: "\(request.method.rawValue) is not served at this path; it takes \(list)",
                code: "method_not_allowed", headers: [.allow: list])
        }
    }

    static let routerMiss = "NotFound"
}
