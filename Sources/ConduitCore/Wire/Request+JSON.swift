import Foundation
import Hummingbird
import NIOCore

extension Request {
    /// Collects the body (at most `limit` bytes) and decodes it as strict JSON (`StrictJSON`).
    package func decodeJSON<Value: Decodable>(as type: Value.Type, limit: Int) async throws -> Value {
        try decodeStrictJSON(Value.self, from: try await body.collect(upTo: limit))
    }
}

/// The body as `Value`, once `StrictJSON` has accepted it: every route reads JSON this one way.
package func decodeStrictJSON<Value: Decodable>(_ type: Value.Type, from body: ByteBuffer) throws -> Value {
    guard body.readableBytes > 0 else {
        throw APIError.invalidRequest("request body is empty; expected a JSON object", code: "invalid_json")
    }
    try StrictJSON.validate(body.readableBytesView)
    return try JSONDecoder().decode(Value.self, from: Data(body.readableBytesView))
}
