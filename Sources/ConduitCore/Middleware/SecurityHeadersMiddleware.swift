import HTTPTypes
import Hummingbird

/// Headers every answer of a JSON API should carry: nothing is sniffed as another type, framed,
/// cached by intermediaries (answers hold embeddings and keys), or sent on as a referrer.
package struct SecurityHeadersMiddleware: RouterMiddleware {

    package init() {}

    package typealias Context = ConduitRequestContext

    /// The headers, for answers written below the router too (the connection cap's 503).
    package static let fields: HTTPFields = [
        .xContentTypeOptions: "nosniff",
        .xFrameOptions: "DENY",
        .referrerPolicy: "no-referrer",
        .contentSecurityPolicy: "default-src 'none'; frame-ancestors 'none'",
    ]

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        for field in Self.fields { response.headers[field.name] = field.value }
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        return response
    }
}

extension HTTPField.Name {
    package static let xContentTypeOptions = Self("x-content-type-options")!
    package static let xFrameOptions = Self("x-frame-options")!
    package static let referrerPolicy = Self("referrer-policy")!
}
