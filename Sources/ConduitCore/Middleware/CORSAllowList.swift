import HTTPTypes
import Hummingbird

/// Cross-origin access for the browser origins on the allow-list only (none by default): a listed
/// origin is echoed back with `Vary: Origin`, its preflight answered; any other origin gets no CORS
/// headers, so browsers keep its scripts out. The list is read per request: a reload may change it.
package struct CORSAllowList: RouterMiddleware {
    package typealias Context = ConduitRequestContext

    package let origins: Live<Set<String>>

    package init(origins: Live<Set<String>>) {
        self.origins = origins
    }

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin], origins.read({ $0.contains(origin) }) else {
            return try await next(request, context)
        }
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            var headers = Self.headers(for: origin)
            headers[.accessControlAllowMethods] = "GET, POST, DELETE, OPTIONS"
            headers[.accessControlAllowHeaders] = "authorization, content-type, x-request-id"
            headers[.accessControlMaxAge] = "600"
            return Response(status: .noContent, headers: headers)
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            // Errors are rendered outside this middleware; the browser must still be allowed to read them.
            throw ErrorWithHeaders(underlying: error, headers: Self.headers(for: origin))
        }
        response.headers.append(contentsOf: Self.headers(for: origin))
        return response
    }

    private static func headers(for origin: String) -> HTTPFields {
        [
            .accessControlAllowOrigin: origin, .vary: "Origin",
            .accessControlExposeHeaders:
                "x-request-id, retry-after, x-tokenization-time, x-queue-time, x-inference-time, x-total-time, x-ratelimit-limit-requests, x-ratelimit-remaining-requests, x-ratelimit-reset-requests, x-ratelimit-limit-tokens, x-ratelimit-remaining-tokens, x-ratelimit-reset-tokens",
        ]
    }
}
