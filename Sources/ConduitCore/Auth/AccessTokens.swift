import Crypto
import Foundation
import Store

/// Short-lived access tokens for users: JWTs signed with HMAC-SHA256 under the operator's key.
///
/// The algorithm is pinned: the signature is checked as HS256 under this server's key whatever the
/// header says, then a header naming anything else (`none` included) is refused, as are a wrong
/// issuer or audience, and an expired or not-yet-valid token. The signature is compared in constant time.
public struct AccessTokens: Sendable {
    public struct Claims: Codable, Sendable, Equatable {
        /// The user's id.
        public var sub: String
        public var team: String
        public var role: Role
        public var iss: String
        public var aud: String
        public var iat: Int64
        public var nbf: Int64?
        public var exp: Int64
        public var jti: String
    }

    public enum Failure: Error, Equatable {
        case malformed, unsupportedAlgorithm, badSignature, wrongIssuer, wrongAudience, expired, notYetValid
    }

    /// The key's bytes (swift-crypto's `SymmetricKey` is not `Sendable`; one is made per use).
    private let keyBytes: Data
    private var key: SymmetricKey { SymmetricKey(data: keyBytes) }
    public let issuer: String
    public let audience: String
    /// Seconds a token is valid.
    public let lifetime: Int64

    /// - Parameter secret: the signing key, at least 32 bytes (HS256 wants 256 bits).
    public init(secret: String, issuer: String = "conduit", audience: String = "conduit-api", lifetime: Int64 = 900) throws {
        guard secret.utf8.count >= 32 else {
            throw ConfigurationError("the JWT signing key must be at least 32 bytes (its value is not shown)")
        }
        keyBytes = Data(secret.utf8)
        self.issuer = issuer
        self.audience = audience
        self.lifetime = lifetime
    }

    public func issue(for user: User, now: Int64 = StoreTime.seconds(StoreTime.now())) throws -> String {
        let claims = Claims(
            sub: user.id, team: user.teamID, role: user.role, iss: issuer, aud: audience, iat: now, nbf: now, exp: now + lifetime,
            jti: randomIdentifier())
        let header = Base64URL.encode(Data(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
        let payload = Base64URL.encode(try JSONEncoder().encode(claims))
        let signingInput = header + "." + payload
        let signature = HMAC<SHA256>.authenticationCode(for: Data(signingInput.utf8), using: key)
        return signingInput + "." + Base64URL.encode(Data(signature))
    }

    /// Whether a bearer secret is a JWT rather than an API key: three dot-separated parts, the first a
    /// JSON object (base64url of `{"` is `eyJ`). An operator's admin key may contain dots; it does not
    /// start like a JSON header.
    public static func looksLikeToken(_ secret: String) -> Bool {
        secret.hasPrefix("eyJ") && secret.split(separator: ".", omittingEmptySubsequences: false).count == 3
    }

    public func verify(_ token: String, now: Int64 = StoreTime.seconds(StoreTime.now())) throws(Failure) -> Claims {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .malformed }
        // The signature first, under the one algorithm this server uses: nothing an attacker wrote is
        // parsed before it is authenticated, and the header cannot choose the algorithm.
        guard let signature = Base64URL.decode(parts[2]),
            HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: Data("\(parts[0]).\(parts[1])".utf8), using: key)
        else { throw .badSignature }
        guard let headerData = Base64URL.decode(parts[0]),
            let header = (try? JSONSerialization.jsonObject(with: headerData)) as? [String: Any]
        else { throw .malformed }
        guard header["alg"] as? String == "HS256", (header["typ"] as? String).map({ $0.uppercased() == "JWT" }) ?? true,
            header["crit"] == nil
        else { throw .unsupportedAlgorithm }
        guard let payload = Base64URL.decode(parts[1]), let claims = try? JSONDecoder().decode(Claims.self, from: payload) else {
            throw .malformed
        }
        guard claims.iss == issuer else { throw .wrongIssuer }
        guard claims.aud == audience else { throw .wrongAudience }
        guard now < claims.exp else { throw .expired }
        guard (claims.nbf ?? claims.iat) <= now + 5 else { throw .notYetValid }  // 5 s of clock skew between nodes
        return claims
    }
}
