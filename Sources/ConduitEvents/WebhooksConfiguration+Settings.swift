import ConduitCore
import Store

extension WebhooksConfiguration {
    /// `webhooks.*`: how events are delivered to the teams' webhooks.
    package static let settings: [Setting<WebhooksConfiguration>] = [
        .seconds(
            "webhooks.timeout_seconds", reloadable: true, \.timeout, help: "longest one delivery attempt may take, the answer included"),
        .flag(
            "webhooks.allow_private_addresses", reloadable: true, \.allowPrivateAddresses,
            help: "allow receivers on loopback, private or link-local addresses (tests, one machine)"),
        .seconds(
            "webhooks.rotation_overlap_seconds", reloadable: true, \.rotationOverlap,
            help: "how long the secret a rotation replaced keeps signing, next to the new one"),
        .text(
            "webhooks.secrets_key_file", allowed: "a readable file holding 32 bytes in base64 (conduit webhooks new-key)", \.secretsKey,
            help: "the key that seals webhook signing secrets in the store (AES-256-GCM); without it they are stored in clear",
            parse: { path in
                SettingValues.secretFile(path).flatMap { SecretSealer(currentKeyText: $0, previousKeyTexts: []) == nil ? nil : $0 }
            },
            show: { _ in nil }),
        .list(
            "webhooks.previous_secrets_key_files", allowed: "a list of readable files, each holding 32 bytes in base64",
            \.previousSecretsKeyFiles,
            help: "keys that sealed secrets before the current one, read until conduit webhooks reseal has sealed them again",
            isAllowed: { path in SettingValues.secretFile(path).flatMap { SecretSealer(currentKeyText: nil, previousKeyTexts: [$0]) } != nil
            }),
    ]
}
