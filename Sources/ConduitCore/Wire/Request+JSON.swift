import Foundation
import Hummingbird
import NIOCore

extension Request {
    /// Collects the body (at most `limit` bytes) and decodes it as strict JSON (`StrictJSON`).
    package func decodeJSON<Value: Decodable>(as type: Value.Type, limit: Int) async throws -> Value {
        try decodeStrictJSON(Value.self, from: try await body.collect(upTo: limit))
    }

    /// Collects the body (at most `limit` bytes) and reads it as a JSON object (`parseStrictJSONObject`).
    package func parseJSONObject(limit: Int) async throws -> [String: JSONValue] {
        try parseStrictJSONObject(try await body.collect(upTo: limit))
    }
}

/// The body as a JSON object, read in the pass that checks it (`StrictJSON.parse`): the gateway's
/// bodies, which it reads a few fields of and passes on.
package func parseStrictJSONObject(_ body: ByteBuffer) throws -> [String: JSONValue] {
    guard body.readableBytes > 0 else { throw emptyBody }
    guard case .object(let object) = try StrictJSON.parse(body.readableBytesView) else {
        throw APIError.invalidRequest("'body' has the wrong type: expected an object", code: "invalid_type")
    }
    return object
}

private let emptyBody = APIError.invalidRequest("request body is empty; expected a JSON object", code: "invalid_json")

/// The body as `Value`, once `StrictJSON` has accepted it: every route reads JSON this one way.
package func decodeStrictJSON<Value: Decodable>(_ type: Value.Type, from body: ByteBuffer) throws -> Value {
    guard body.readableBytes > 0 else { throw emptyBody }
    try StrictJSON.validate(body.readableBytesView)
    return try JSONDecoder().decode(Value.self, from: Data(body.readableBytesView))
}
