import Foundation
import Store

/// `auth.*`: whether calls need a key, the operator's administrator key and the key that signs users'
/// access tokens. No secret has a default.
public struct AuthConfiguration: Sendable, Equatable {
    /// Whether every API call needs an API key. Off, the server binds only to loopback.
    public var enabled = false
    /// An administrator key supplied by the operator (never logged); without one, the first start with
    /// authentication on creates one and prints it once.
    public var adminKey: String?
    /// The key that signs users' access tokens (HS256, at least 32 bytes). Without one, users cannot
    /// log in, and only API keys work.
    public var jwtSecret: String?
    /// How long a key found stays trusted without reading the store again: what another node (or the
    /// command line) changes of a key takes this long to apply here; what this node changes applies at once.
    public var keyCacheLifetime: Duration = .seconds(2)

    public init() {}

    public func validate() throws {
        if let jwtSecret { _ = try AccessTokens(secret: jwtSecret) }
        if let adminKey, !APIKeySecret.isWellFormed(adminKey) {
            throw ConfigurationError("auth.admin_key must be 32 to 256 visible ASCII characters (its value is not shown)")
        }
    }

    package static let settings: [Setting<AuthConfiguration>] = [
        .flag("auth.enabled", \.enabled, help: "every call but /health needs an API key or an access token"),
        .text(
            "auth.admin_key", allowed: "32 to 256 visible ASCII characters", secret: true, \.adminKey,
            help: "the administrator key; without one, the first start with auth creates one and prints it once", parse: { $0 },
            show: { $0 }),
        .text(
            "auth.admin_key_file", allowed: "a readable file holding the admin key", \.adminKey,
            help: "a file holding the admin key (a Docker or systemd credential); wins over admin_key",
            parse: SettingValues.secretFile, show: { _ in nil }),
        .text(
            "auth.jwt_secret", allowed: "at least 32 bytes", secret: true, \.jwtSecret,
            help: "signs users' access tokens; without it users cannot log in", parse: { $0 }, show: { $0 }),
        .text(
            "auth.jwt_secret_file", allowed: "a readable file holding the JWT signing key", \.jwtSecret,
            help: "a file holding the JWT signing key; wins over jwt_secret", parse: SettingValues.secretFile, show: { _ in nil }),
        .wholeSeconds(
            "auth.key_cache_seconds", 0...60, \.keyCacheLifetime,
            help:
                "how long a key found is trusted without reading the store: a revocation or a limit set on another node applies here within it (at once on this one); 0 reads the store every request"
        ),
    ]
}
