import Foundation
import HTTPTypes
import Hummingbird

/// The one error shape of the API, the OpenAI one:
/// `{"error": {"message": "...", "type": "invalid_request_error", "param": "input", "code": "input_too_long"}}`.
public struct APIError: Error, Sendable, Equatable, HTTPResponseError {
    public var status: HTTPResponse.Status
    public var message: String
    public var type: String
    public var param: String?
    public var code: String?
    /// Extra headers, such as `Retry-After` on 503.
    public var headers: HTTPFields

    public init(
        status: HTTPResponse.Status, message: String, type: String = "invalid_request_error",
        param: String? = nil, code: String? = nil, headers: HTTPFields = [:]
    ) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers
    }

    public static func invalidRequest(_ message: String, param: String? = nil, code: String) -> APIError {
        APIError(status: .badRequest, message: message, param: param, code: code)
    }

    private struct Body: Encodable {
        struct Detail: Encodable {
            var message: String
            var type: String
            var param: String?
            var code: String?

            func encode(to encoder: any Encoder) throws {
                // param and code are always present, as null when unset, as OpenAI sends them.
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(message, forKey: .message)
                try container.encode(type, forKey: .type)
                try container.encode(param, forKey: .param)
                try container.encode(code, forKey: .code)
            }
            enum CodingKeys: String, CodingKey { case message, type, param, code }
        }
        var error: Detail
    }

    /// The answer's body: `{"error":{"message","type","param","code"}}`. Bounded whatever a message quotes
    /// of the request, so that an error is never an amplifier.
    package func jsonBody() throws -> Data {
        try JSONEncoder().encode(
            Body(error: .init(message: message.bounded(toBytes: Self.messageBytes), type: type, param: param?.bounded(), code: code)))
    }

    static let messageBytes = 1024

    /// The whole answer for a connection refused below the router (the connection cap, a request that is
    /// not HTTP): the headers every answer carries, the body, and `Connection: close`.
    package func closingAnswer() -> (head: HTTPResponse, body: Data) {
        let body = (try? jsonBody()) ?? Data()
        var head = HTTPResponse(status: status)
        head.headerFields = SecurityHeadersMiddleware.fields
        head.headerFields.append(contentsOf: headers)
        head.headerFields.append(
            contentsOf: [
                .contentType: "application/json", .cacheControl: "no-store", .connection: "close",
                .conduitVersion: APIVersions.current.latest, .contentLength: String(body.count),
            ] as HTTPFields)
        return (head, body)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: try jsonBody())))
    }
}
