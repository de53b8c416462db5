/// A live channel's place at the hub (an SSE stream's, a WebSocket's), given back when the channel ends,
/// or when it never starts and its answer or session is dropped (a client that left before the head
/// went out, a handshake refused or never upgraded). Releasing twice is harmless.
final class HubPlace: Sendable {
    let hub: EventHub
    let subscription: EventSubscription

    init(hub: EventHub, subscription: EventSubscription) {
        self.hub = hub
        self.subscription = subscription
    }

    func release() { hub.unsubscribe(subscription) }

    deinit { release() }
}
