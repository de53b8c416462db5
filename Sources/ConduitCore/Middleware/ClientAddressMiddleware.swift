import HTTPTypes
import Hummingbird

/// Finds who the client is (`ConduitRequestContext.clientAddress`): the peer, or behind the trusted
/// proxies, what their `X-Forwarded-For` says (`TrustedProxies`). The access log and the login limiter
/// then name the real client, not the load balancer.
package struct ClientAddressMiddleware: RouterMiddleware {
    package typealias Context = ConduitRequestContext
    let proxies: TrustedProxies

    package init(proxies: TrustedProxies) { self.proxies = proxies }

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.clientAddress = proxies.client(
            peer: context.channel.remoteAddress?.ipAddress, forwardedFor: request.headers[values: Self.forwardedFor].joined(separator: ","))
        return try await next(request, context)
    }

    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!
}
