import Crypto
import Foundation

/// Seals the secrets the store must give back in clear (webhooks' signing secrets: a signature needs
/// the secret itself, not a hash), with AES-256-GCM under a key the operator keeps outside the database,
/// so that a copy of the database (a backup, a replica) does not give them away.
///
/// A sealed value is `sealed1:KEYID:BASE64` (the nonce, the ciphertext and the tag, as `AES.GCM`
/// combines them), `KEYID` naming the key that sealed it. Keys are rotated by giving the new key as the
/// current one and the old ones as `previous` until every value is sealed again (`conduit webhooks reseal`).
/// Without a key, values are kept as they are; values stored before a key was set stay readable.
public struct SecretSealer: Sendable {
    // The keys' bytes: a SymmetricKey is not Sendable, and is made from them at each use.
    private let current: (id: String, key: Data)?
    private let keys: [String: Data]

    /// No key: values are stored in clear.
    public static let none = SecretSealer(current: nil, previous: [])

    /// `current` seals (none: values are stored in clear); it and `previous` open what they sealed.
    private init(current: Data?, previous: [Data]) {
        self.current = current.map { (id: Self.identifier(of: $0), key: $0) }
        keys = Dictionary(
            ([current].compactMap { $0 } + previous).map { (Self.identifier(of: $0), $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The sealer of keys as key files hold them (the current one, then older ones); nil when one is not a key.
    public init?(currentKeyText: String?, previousKeyTexts: [String]) {
        let previous = previousKeyTexts.compactMap(Self.key(fromFile:))
        guard previous.count == previousKeyTexts.count else { return nil }
        if let currentKeyText {
            guard let current = Self.key(fromFile: currentKeyText) else { return nil }
            self.init(current: current, previous: previous)
        } else {
            self.init(current: nil, previous: previous)
        }
    }

    /// A key as a key file holds it: 32 bytes in base64. Nil for anything else.
    static func key(fromFile text: String) -> Data? {
        guard let bytes = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), bytes.count == 32 else { return nil }
        return bytes
    }

    /// A new key, as a key file holds it.
    public static func newKeyFileText() -> String {
        SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
    }

    public var isSealing: Bool { current != nil }

    public func seal(_ value: String) throws -> String {
        guard let current else { return value }
        // A 12-byte nonce (AES.GCM's default) always gives the combined form.
        guard let combined = try AES.GCM.seal(Data(value.utf8), using: SymmetricKey(data: current.key)).combined else {
            throw SealingError.damaged
        }
        return "\(Self.prefix)\(current.id):\(combined.base64EncodedString())"
    }

    /// The value in clear. Throws when it was sealed under a key this sealer does not hold, or altered.
    public func open(_ stored: String) throws -> String {
        guard stored.hasPrefix(Self.prefix) else { return stored }
        let parts = stored.dropFirst(Self.prefix.count).split(separator: ":", maxSplits: 1)
        guard parts.count == 2, let key = keys[String(parts[0])] else { throw SealingError.unknownKey(String(parts.first ?? "")) }
        guard let combined = Data(base64Encoded: String(parts[1])),
            let opened = try? AES.GCM.open(AES.GCM.SealedBox(combined: combined), using: SymmetricKey(data: key))
        else { throw SealingError.damaged }
        return String(decoding: opened, as: UTF8.self)
    }

    /// Whether `stored` is sealed under the current key (else `reseal` has work to do).
    public func isCurrent(_ stored: String) -> Bool {
        guard let current else { return !stored.hasPrefix(Self.prefix) }
        return stored.hasPrefix("\(Self.prefix)\(current.id):")
    }

    public enum SealingError: Error, CustomStringConvertible {
        case unknownKey(String)
        case damaged

        public var description: String {
            switch self {
            case .unknownKey(let id):
                "a secret is sealed under key \(id), which is not among the configured keys (webhooks.secrets_key_file, webhooks.previous_secrets_key_files)"
            case .damaged: "a sealed secret does not open: it was altered, or sealed under another key with the same name"
            }
        }
    }

    /// The first 8 hex digits of the key's SHA-256: names it in sealed values without revealing it.
    private static func identifier(of key: Data) -> String {
        SHA256.hash(data: key).prefix(4).map { String(format: "%02x", $0) }.joined()
    }

    static let prefix = "sealed1:"
}
