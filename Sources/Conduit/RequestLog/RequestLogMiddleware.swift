import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Store
import Synchronization

/// Keeps the requests `request_log.*` selects, by route or by key, with their answers, for `conduit
/// replay`. Runs after authentication (a key's requests are selected by its id) and hands what it
/// captured to a `RequestRecorder`, which redacts and stores it off the request path.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = ConduitRequestContext
    let configuration: LiveConfiguration
    let recorder: RequestRecorder

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let settings = configuration.read(\.requestLog)
        guard settings.keeps(path: request.uri.path, keyID: context.identity?.keyID) else { return try await next(request, context) }
        var request = request
        let requestBody = try await request.collectBody(upTo: configuration.read(\.limits.maxBodyBytes))
        let start = ContinuousClock.now
        let record = LoggedRequest(
            requestID: context.requestID, teamID: context.identity?.teamID, keyID: context.identity?.keyID,
            method: request.method.rawValue, path: request.uri.description, status: 0, durationMilliseconds: 0, requestBody: "",
            responseBody: "")
        let recorder = recorder
        let keep: @Sendable (HTTPResponse.Status, ByteBuffer) -> Void = { status, responseBody in
            var record = record
            record.status = Int(status.code)
            record.durationMilliseconds = Int64((ContinuousClock.now - start) / .milliseconds(1))
            recorder.record(
                CapturedRequest(
                    record: record, requestBody: requestBody, responseBody: responseBody, redactedFields: settings.redactedFields))
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            let answer = APIError(error)
            keep(answer.status, ByteBuffer(bytes: (try? answer.jsonBody()) ?? Data()))
            throw error
        }
        // The body is written after this returns: it is copied on its way out.
        let body = response.body
        let status = response.status
        response.body = ResponseBody(contentLength: body.contentLength) { writer in
            let captured = CapturedBody()
            try await body.map { buffer in
                captured.append(buffer)
                return buffer
            }.write(writer)
            keep(status, captured.bytes)
        }
        return response
    }
}

/// A request the log keeps, its bodies not yet redacted: that is done as the batch is written.
struct CapturedRequest: Sendable {
    var record: LoggedRequest
    var requestBody: ByteBuffer
    var responseBody: ByteBuffer
    var redactedFields: [String]

    /// The record as stored.
    var redacted: LoggedRequest {
        var record = record
        record.requestBody = RequestRedaction.redact(requestBody, fields: redactedFields)
        record.responseBody = RequestRedaction.redact(responseBody, fields: redactedFields)
        return record
    }
}

/// The bytes of a response body as it is written.
private final class CapturedBody: Sendable {
    private let buffer = Mutex(ByteBuffer())

    func append(_ part: ByteBuffer) { buffer.withLock { _ = $0.writeImmutableBuffer(part) } }
    var bytes: ByteBuffer { buffer.withLock { $0 } }
}
