import HTTPTypes
import Hummingbird

/// Headers every answer of a JSON API should carry: nothing is sniffed as another type, framed,
/// cached by intermediaries (answers hold embeddings and keys), or sent on as a referrer.
struct SecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = ConduitRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.xFrameOptions] = "DENY"
        response.headers[.referrerPolicy] = "no-referrer"
        response.headers[.contentSecurityPolicy] = "default-src 'none'; frame-ancestors 'none'"
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        return response
    }
}

extension HTTPField.Name {
    static let xContentTypeOptions = Self("x-content-type-options")!
    static let xFrameOptions = Self("x-frame-options")!
    static let referrerPolicy = Self("referrer-policy")!
}
