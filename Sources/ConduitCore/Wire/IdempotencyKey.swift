import HTTPTypes
import Hummingbird

extension Request {
    /// The `Idempotency-Key` header, if sent, of 1 to 200 characters.
    package func idempotencyKey() throws -> String? {
        let key = headers[.idempotencyKey]
        if let key, key.isEmpty || key.count > 200 {
            throw APIError.invalidRequest("Idempotency-Key must be 1 to 200 characters", param: "Idempotency-Key", code: "invalid_value")
        }
        return key
    }
}

extension HTTPField.Name {
    package static let idempotencyKey = Self("Idempotency-Key")!
    package static let idempotentReplayed = Self("Idempotent-Replayed")!
}
