/// How webhook deliveries are sent (`webhooks.*`).
public struct WebhooksConfiguration: Sendable, Equatable {
    /// Longest one delivery attempt may take, the receiver's answer included.
    public var timeout: Duration = .seconds(10)
    /// Whether receivers may be on loopback, private, link-local or other non-public addresses. Off:
    /// a team must not be able to make the server post to the machines around it.
    public var allowPrivateAddresses = false
    /// How long the secret a rotation replaced keeps signing deliveries, next to the new one.
    public var rotationOverlap: Duration = .seconds(86_400)

    public init() {}
}
