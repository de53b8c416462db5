import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Store
import Synchronization

/// Keeps the requests `request_log.*` selects, by route or by key, with their answers, for `conduit
/// replay`. Runs after authentication (a key's requests are selected by its id) and hands what it
/// captured to a `RequestRecorder`, which redacts and stores it off the request path.
package struct RequestLogMiddleware: RouterMiddleware {
    package typealias Context = ConduitRequestContext
    package let settings: Live<RequestLogConfiguration>
    package let limits: Live<APILimits>
    package let recorder: RequestRecorder

    package init(settings: Live<RequestLogConfiguration>, limits: Live<APILimits>, recorder: RequestRecorder) {
        self.settings = settings
        self.limits = limits
        self.recorder = recorder
    }

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let settings = self.settings.current
        guard settings.keeps(path: request.uri.path, keyID: context.identity?.keyID) else { return try await next(request, context) }
        var request = request
        let requestBody = CapturedBody(limit: settings.maxBodyBytes)
        requestBody.append(try await request.collectBody(upTo: limits.read(\.maxBodyBytes)))
        let start = ContinuousClock.now
        let record = LoggedRequest(
            requestID: context.requestID, teamID: context.identity?.teamID, keyID: context.identity?.keyID,
            method: request.method.rawValue, path: RequestRedaction.redact(target: request.uri.description), status: 0,
            durationMilliseconds: 0, requestBody: "",
            responseBody: "")
        let recorder = recorder
        let keep: @Sendable (HTTPResponse.Status, CapturedBytes) -> Void = { status, responseBody in
            var record = record
            record.status = Int(status.code)
            record.durationMilliseconds = Int64((ContinuousClock.now - start) / .milliseconds(1))
            recorder.record(
                CapturedRequest(
                    record: record, requestBody: requestBody.bytes, responseBody: responseBody, redactedFields: settings.redactedFields))
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            let answer = CapturedBody(limit: settings.maxBodyBytes)
            answer.append(ByteBuffer(bytes: (try? APIError(error).jsonBody()) ?? Data()))
            keep(APIError(error).status, answer.bytes)
            throw error
        }
        // The body is written after this returns: it is copied on its way out.
        let body = response.body
        let status = response.status
        response.body = ResponseBody(contentLength: body.contentLength) { writer in
            let captured = CapturedBody(limit: settings.maxBodyBytes)
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
package struct CapturedRequest: Sendable {
    package var record: LoggedRequest
    package var requestBody: CapturedBytes
    package var responseBody: CapturedBytes
    package var redactedFields: [String]

    /// The record as stored.
    package var redacted: LoggedRequest {
        var record = record
        record.requestBody = RequestRedaction.redact(requestBody, fields: redactedFields)
        record.responseBody = RequestRedaction.redact(responseBody, fields: redactedFields)
        return record
    }
}

/// A body as captured: its bytes, unless it was longer than the log keeps, and its size.
package struct CapturedBytes: Sendable {
    package var bytes = ByteBuffer()
    package var size = 0
    package var isWhole: Bool { bytes.readableBytes == size }
}

/// Copies a body as it goes by, up to `limit` bytes: past it, only its size is counted and what was
/// kept is let go, so a huge answer costs the log no memory.
private final class CapturedBody: Sendable {
    private let limit: Int
    private let captured = Mutex(CapturedBytes())

    init(limit: Int) { self.limit = limit }

    func append(_ part: ByteBuffer) {
        captured.withLock { captured in
            captured.size += part.readableBytes
            if captured.size <= limit {
                captured.bytes.writeImmutableBuffer(part)
            } else if captured.bytes.readableBytes > 0 {
                captured.bytes = ByteBuffer()
            }
        }
    }

    var bytes: CapturedBytes { captured.withLock { $0 } }
}
