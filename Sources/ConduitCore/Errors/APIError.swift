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
    /// Members the error object carries beside the four, for a client to act on without parsing the message
    /// (the transitions a project allows, the guards that failed).
    package var details: [String: JSONValue] = [:]

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
            var details: [String: JSONValue]

            func encode(to encoder: any Encoder) throws {
                // param and code are always present, as null when unset, as OpenAI sends them.
                var container = encoder.container(keyedBy: Key.self)
                try container.encode(message, forKey: Key("message"))
                try container.encode(type, forKey: Key("type"))
                try container.encode(param, forKey: Key("param"))
                try container.encode(code, forKey: Key("code"))
                for (name, value) in details { try container.encode(value, forKey: Key(name)) }
            }

            struct Key: CodingKey {
                let stringValue: String
                var intValue: Int? { nil }
                init(_ name: String) { stringValue = name }
                init?(stringValue: String) { self.stringValue = stringValue }
                init?(intValue: Int) { nil }
            }
        }
        var error: Detail
    }

    /// The answer's body: `{"error":{"message","type","param","code"}}`. Bounded whatever a message quotes
    /// of the request, so that an error is never an amplifier.
    package func jsonBody() throws -> Data {
        try JSONEncoder().encode(
            Body(
                error: .init(
                    message: message.bounded(toBytes: Self.messageBytes), type: type, param: param?.bounded(), code: code, details: details)
            ))
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
