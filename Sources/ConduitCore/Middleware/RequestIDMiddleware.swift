import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Store
import Tracing

/// Outermost middleware: gives every request an id, renders every error in the one error
/// shape, puts `x-request-id` on every response, and writes one access log line.
package struct RequestIDMiddleware: RouterMiddleware {

    package init() {}

    package typealias Context = ConduitRequestContext

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let id = request.headers[.requestID].flatMap { $0.count <= 128 && !$0.isEmpty ? $0 : nil } ?? randomIdentifier()
        context.requestID = id
        context.logger[metadataKey: "request_id"] = .string(id)
        let start = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            let apiError = APIError(error)
            // Only a 500 is a bug worth an error line; a 503 under overload is expected and the access line records it.
            if apiError.status == .internalServerError {
                context.logger.error("request failed", metadata: ["error": "\(String(reflecting: error))"])
            }
            // The tracing middleware outside sees an answer, not the error: the request's span is marked here.
            if apiError.status.code >= 500 {
                InstrumentationSystem.tracer.activeSpan(identifiedBy: InstrumentationContext.current ?? .topLevel)?
                    .setStatus(SpanStatus(code: .error, message: apiError.code))
            }
            response = try apiError.response(from: request, context: context)
        }
        response.headers[.requestID] = id
        context.logger.info(
            "request",
            metadata: context.caller.logMetadata.merging([
                "method": .string(request.method.rawValue),
                "route": .string(context.endpointPath ?? "NotFound"),
                "path": .string(request.uri.path.bounded(toBytes: 1024)),
                "client": .string(context.clientAddress ?? "-"),
                "status": .stringConvertible(response.status.code),
                "duration_ms": .stringConvertible(Int((ContinuousClock.now - start) / .milliseconds(1))),
            ]) { $1 })
        return response
    }
}
