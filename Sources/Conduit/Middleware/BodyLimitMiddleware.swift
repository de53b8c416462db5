import HTTPTypes
import Hummingbird

/// Refuses a request whose declared `Content-Length` exceeds the limit before reading any of it,
/// and a body that is not JSON. Bodies without a length are bounded when they are collected.
struct BodyLimitMiddleware: RouterMiddleware {
    typealias Context = ConduitRequestContext
    let configuration: LiveConfiguration

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let maxBodyBytes = configuration.read(\.limits.maxBodyBytes)
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
