import HTTPTypes
import Hummingbird

/// Refuses a request whose declared `Content-Length` exceeds the limit before reading any of it,
/// and a body that is not JSON. Bodies without a length are bounded when they are collected.
package struct BodyLimitMiddleware: RouterMiddleware {
    package typealias Context = ConduitRequestContext
    package let limits: Live<APILimits>

    package init(limits: Live<APILimits>) {
        self.limits = limits
    }

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let maxBodyBytes = limits.read(\.maxBodyBytes)
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBodyBytes {
            throw APIError(
                status: .contentTooLarge, message: "request body of \(length) bytes exceeds the limit of \(maxBodyBytes)",
                code: "body_too_large")
        }
        if request.method == .post, let type = request.headers[.contentType], !type.lowercased().contains("json") {
            throw APIError(
                status: .unsupportedMediaType, message: "Content-Type must be application/json, got \(type)",
                code: "unsupported_media_type")
        }
        return try await next(request, context)
    }
}
