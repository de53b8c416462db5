import Foundation
import Hummingbird

extension Request {
    /// Collects the body (at most `limit` bytes) and decodes it as JSON.
    package func decodeJSON<Value: Decodable>(as type: Value.Type, limit: Int) async throws -> Value {
        let buffer = try await body.collect(upTo: limit)
        guard buffer.readableBytes > 0 else {
            throw APIError.invalidRequest("request body is empty; expected a JSON object", code: "invalid_json")
        }
        return try JSONDecoder().decode(Value.self, from: Data(buffer.readableBytesView))
    }
}
