import ConduitCore

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
    ]
}
