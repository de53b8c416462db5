import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import Store

/// An error of a feature's domain that says how the API shows it. `APIError.init(_:)`, the one place
/// where errors become answers, asks it; a feature throws its own errors, not `APIError`.
public protocol APIErrorConvertible: Error {
    var apiError: APIError { get }
}

/// An error on its way to the renderer with headers its answer must carry (CORS). It keeps the
/// error itself, so that a 500 is still logged with its cause.
package struct ErrorWithHeaders: Error {
    package let underlying: any Error
    package let headers: HTTPFields
}

extension APIError {
    /// The single place where errors of every layer become an HTTP status and an error body.
    /// Anything not recognised is a bug and becomes a 500 that reveals no internals.
    public init(_ error: any Error) {
        switch error {
        case let error as APIError:
            self = error
        case let error as ErrorWithHeaders:
            self.init(error.underlying)
            headers.append(contentsOf: error.headers)
        case let error as any APIErrorConvertible:
            self = error.apiError
        case let error as StoreError:
            self.init(error)
        case let error as JobQueueError:
            self.init(error)
        case let violation as APIKeyRules.Violation:
            self = .invalidRequest(violation.description, param: violation.field, code: "invalid_value")
        case let error as DecodingError:
            self.init(error)
        case let error as HTTPError:
            self.init(error)
        case is NIOTooManyBytesError:
            // A body sent in chunks, with no Content-Length to refuse it by, grew past the limit while read.
            self.init(status: .contentTooLarge, message: "request body exceeds the size limit", code: "body_too_large")
        case HTTPParserError.invalidEOFState:
            self = .invalidRequest("the request ended before its body was complete", code: "incomplete_request")
        case let error as HTTPParserError:
            self = .invalidRequest("the request is not valid HTTP/1.1: \(error)", code: "malformed_request")
        case is CancellationError:
            // The client went away; nobody reads this, but the access log records it.
            self.init(
                status: .init(code: 499, reasonPhrase: "Client Closed Request"), message: "request cancelled",
                type: "invalid_request_error", code: "cancelled")
        default:
            self.init(status: .internalServerError, message: "internal error", type: "server_error", code: "internal_error")
        }
    }

    private init(_ error: DecodingError) {
        func path(_ codingPath: [any CodingKey]) -> String? {
            let names = codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return names.isEmpty ? nil : names.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            self = .invalidRequest("request body is not valid JSON", code: "invalid_json")
        case .dataCorrupted(let context):
            self = .invalidRequest(context.debugDescription, param: path(context.codingPath), code: "invalid_value")
        case .keyNotFound(let key, let context):
            let param = path(context.codingPath + [key]) ?? key.stringValue
            self = .invalidRequest("missing required parameter '\(param)'", param: param, code: "missing_parameter")
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            let param = path(context.codingPath)
            self = .invalidRequest(
                "'\(param ?? "body")' has the wrong type: expected \(Self.jsonTypeName(type))",
                param: param, code: "invalid_type")
        @unknown default:
            self = .invalidRequest("invalid request body", code: "invalid_request")
        }
    }

    private init(_ error: HTTPError) {
        switch error.status {
        case .contentTooLarge:
            self.init(status: .contentTooLarge, message: "request body exceeds the size limit", code: "body_too_large")
        case .notFound:
            self.init(status: .notFound, message: "no such route", code: "not_found")
        case .methodNotAllowed:
            self.init(status: .methodNotAllowed, message: "method not allowed on this route", code: "method_not_allowed")
        default:
            let isClientError = (400..<500).contains(error.status.code)
            self.init(
                status: error.status, message: error.body ?? error.status.reasonPhrase,
                type: isClientError ? "invalid_request_error" : "server_error", code: nil)
        }
    }

    private static func jsonTypeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "string"
        case is Int.Type, is Int32.Type: "integer"
        case is Double.Type, is Float.Type: "number"
        case is Bool.Type: "boolean"
        case is [Any].Type: "array"
        default: "\(type)".contains("Dictionary") ? "object" : "\(type)"
        }
    }
}

extension HTTPField.Name {
    package static let requestID = Self("x-request-id")!
}

extension APIError {
    package init(_ error: JobQueueError) {
        switch error {
        case .illegalTransition: self.init(status: .conflict, message: error.description, code: "invalid_job_state")
        case .idempotencyKeyReused:
            self.init(status: .unprocessableContent, message: error.description, param: "Idempotency-Key", code: "idempotency_key_reused")
        case .queueFull:
            self.init(
                status: .tooManyRequests, message: error.description, type: "requests", code: "job_queue_full", headers: [.retryAfter: "10"]
            )
        }
    }

    /// What the store refuses is the caller's to fix; an unreachable database is a 503 to retry (the
    /// cause is logged, not shown).
    package init(_ error: StoreError) {
        switch error {
        case .unavailable:
            self.init(
                status: .serviceUnavailable, message: "the database is unavailable; try again shortly", type: "server_error",
                code: "database_unavailable", headers: [.retryAfter: "1"])
        case .notFound(let what): self.init(status: .notFound, message: "\(what)", code: "not_found")
        case .conflict(let what): self.init(status: .conflict, message: what, code: "conflict")
        case .invalidValue(let what): self = .invalidRequest(what, code: "invalid_value")
        case .invalidLocation, .schemaTooNew:
            self.init(status: .internalServerError, message: "the server's database is misconfigured", type: "server_error", code: nil)
        }
    }
}
