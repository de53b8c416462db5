import Foundation
import HTTPTypes
import Hummingbird

/// Refuses a request whose declared `Content-Length` exceeds the limit before reading any of it,
/// and a body that is not declared JSON: every body the API takes is, so a body must say
/// `Content-Type: application/json` (parameters such as `charset` aside), exactly, not a type that only
/// contains the word. Bodies without a length are bounded when they are collected.
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
        if Self.bodyMethods.contains(request.method), Self.hasBody(request), !Self.isJSON(request.headers[.contentType]) {
            throw APIError(
                status: .unsupportedMediaType,
                message: "a request body must be sent with Content-Type: application/json, got \(request.headers[.contentType] ?? "none")",
                code: "unsupported_media_type")
        }
        return try await next(request, context)
    }

    static let bodyMethods: Set<HTTPRequest.Method> = [.post, .put, .patch]

    /// A declared length above 0, or a body sent in chunks under a declared type. Chunks without a type
    /// may hold nothing (a proxy re-chunks the empty body of `POST …/cancel`): a route that reads them
    /// refuses what is not JSON when it parses it.
    private static func hasBody(_ request: Request) -> Bool {
        if let length = request.headers[.contentLength].flatMap(Int.init) { return length > 0 }
        return request.headers[.transferEncoding] != nil && request.headers[.contentType] != nil
    }

    /// Whether a Content-Type is JSON's: the media type before any parameters, in any case.
    static func isJSON(_ contentType: String?) -> Bool {
        guard let contentType else { return false }
        let mediaType = contentType.split(separator: ";", maxSplits: 1).first.map(String.init) ?? ""
        return mediaType.trimmingCharacters(in: .whitespaces).lowercased() == "application/json"
    }
}
