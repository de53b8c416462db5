import ConduitCore
import Store

/// How webhook deliveries are sent, and how their signing secrets are kept (`webhooks.*`).
public struct WebhooksConfiguration: Sendable, Equatable {
    /// Longest one delivery attempt may take, the receiver's answer included.
    public var timeout: Duration = .seconds(10)
    /// Whether receivers may be on loopback, private, link-local or other non-public addresses. Off:
    /// a team must not be able to make the server post to the machines around it.
    public var allowPrivateAddresses = false
    /// How long the secret a rotation replaced keeps signing deliveries, next to the new one.
    public var rotationOverlap: Duration = .seconds(86_400)
    /// The key (32 bytes in base64, from a file) that seals the signing secrets in the store; none: they
    /// are stored in clear. Never logged or shown.
    public var secretsKey: String?
    /// Files of keys that sealed secrets before the current one: still read until `conduit webhooks reseal`
    /// has sealed everything again under the current key.
    public var previousSecretsKeyFiles: [String] = []

    /// The store's sealer for these keys (the settings were checked to be keys when read).
    public var sealer: SecretSealer {
        SecretSealer(currentKeyText: secretsKey, previousKeyTexts: previousSecretsKeyFiles.compactMap(SettingValues.secretFile)) ?? .none
    }

    public init() {}
}
