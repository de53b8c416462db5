import Crypto
import Foundation

/// The `webhook-signature` header of the Standard Webhooks specification: HMAC-SHA256 of
/// `{webhook-id}.{webhook-timestamp}.{body}` under each secret (the base64 after `whsec_`), as
/// `v1,{base64}`, space-separated when a rotation's two secrets both sign.
package enum WebhookSignature {
    package static func header(id: String, timestamp: Int64, body: Data, secrets: [String]) -> String {
        secrets.map { "v1," + sign(id: id, timestamp: timestamp, body: body, secret: $0) }.joined(separator: " ")
    }

    package static func sign(id: String, timestamp: Int64, body: Data, secret: String) -> String {
        let key = SymmetricKey(data: Data(base64Encoded: String(secret.dropFirst(secret.hasPrefix("whsec_") ? 6 : 0))) ?? Data(secret.utf8))
        var message = Data("\(id).\(timestamp).".utf8)
        message.append(body)
        return Data(HMAC<SHA256>.authenticationCode(for: message, using: key)).base64EncodedString()
    }
}
