import Foundation
import NIOCore

/// What the request log stores of a body: JSON with the values of secret fields replaced, at any
/// depth; of anything else, only its size.
package enum RequestRedaction {
    /// Fields that hold a credential wherever they appear: passwords at login, keys and tokens in the
    /// admin API's and the login's answers.
    package static let secretFields: Set<String> = [
        "password", "current_password", "new_password", "secret", "key", "api_key", "token", "access_token", "refresh_token",
        "id_token", "authorization", "admin_key", "jwt_secret", "ticket",
    ]
    package static let marker = "[redacted]"

    /// A request's target as stored: the values of query parameters named as secret fields (a WebSocket's
    /// `ticket`, a `token`) replaced.
    package static func redact(target: String) -> String {
        guard let question = target.firstIndex(of: "?") else { return target }
        let query = target[target.index(after: question)...].split(separator: "&", omittingEmptySubsequences: false).map { pair in
            let name = pair.split(separator: "=", maxSplits: 1).first.map { $0.lowercased() } ?? ""
            return secretFields.contains(name) ? "\(name)=\(marker)" : String(pair)
        }
        return String(target[...question]) + query.joined(separator: "&")
    }

    /// `body` as stored: the secret fields and `fields` (case-insensitive) redacted; of a body longer
    /// than the log keeps, only its size.
    package static func redact(_ captured: CapturedBytes, fields: [String]) -> String {
        guard captured.isWhole else { return "[\(captured.size) bytes, over request_log.max_body_bytes]" }
        let body = captured.bytes
        guard body.readableBytes > 0 else { return "" }
        guard let json = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView), options: .fragmentsAllowed),
            let redacted = try? JSONSerialization.data(
                withJSONObject: redact(json, hiding: Set(fields.map { $0.lowercased() }).union(secretFields)),
                options: [.fragmentsAllowed, .withoutEscapingSlashes])
        else { return "[\(body.readableBytes) bytes, not JSON]" }
        return String(decoding: redacted, as: UTF8.self)
    }

    private static func redact(_ value: Any, hiding fields: Set<String>) -> Any {
        if let object = value as? [String: Any] {
            return Dictionary(
                uniqueKeysWithValues: object.map { name, value in
                    (name, fields.contains(name.lowercased()) ? marker : redact(value, hiding: fields))
                })
        }
        if let array = value as? [Any] { return array.map { redact($0, hiding: fields) } }
        return value
    }
}
