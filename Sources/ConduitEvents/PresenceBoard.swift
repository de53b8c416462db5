import Foundation
import Store
import Synchronization

/// Who is viewing what, for the WebSockets of this node: a socket says it views a resource
/// (`{"type": "presence", "resource": "conversation:…", "state": "viewing"}`), and every socket of the
/// team that watches the resource (views it too, or subscribes to its events) is sent the resource's
/// viewers (`presence.update`) at each change, a socket's disconnection included.
///
/// Node-local: sockets of the same team on other nodes see their own node's viewers only (the issue it
/// serves, a team's people looking at one conversation, is usually one node behind a sticky balancer).
package final class PresenceBoard: Sendable {
    /// Where a socket's presence messages go: its outbox, which keeps the newest when the client is slow
    /// (an older presence state is worth nothing once a newer one exists).
    package typealias Outbox = AsyncStream<String>.Continuation

    struct Viewer: Encodable, Sendable {
        var keyID: String?
        var userID: String?
        /// When the viewer began viewing, in seconds since 1970.
        var since: Int64
    }

    private struct Place: Hashable {
        var teamID: String
        var resource: String
    }

    private struct State {
        var outboxes: [UInt64: Outbox] = [:]
        /// The sockets that watch a place, with how many of their subscriptions do.
        var watchers: [Place: [UInt64: Int]] = [:]
        var viewers: [Place: [UInt64: Viewer]] = [:]
    }

    private let state = Mutex(State())
    private let nextSocket = Atomic<UInt64>(1)

    package init() {}

    /// A number for a new socket, whose presence messages go to `outbox`.
    package func join(_ outbox: Outbox) -> UInt64 {
        let socket = nextSocket.add(1, ordering: .relaxed).oldValue
        state.withLock { $0.outboxes[socket] = outbox }
        return socket
    }

    /// Forgets the socket: it stops viewing and watching everything, and its viewers are told.
    package func leave(_ socket: UInt64) {
        let updates = state.withLock { state -> [(String, [Outbox])] in
            state.outboxes[socket] = nil
            for place in state.watchers.keys where state.watchers[place]?[socket] != nil {
                state.watchers[place]?[socket] = nil
                if state.watchers[place]?.isEmpty == true { state.watchers[place] = nil }
            }
            let viewed = state.viewers.keys.filter { state.viewers[$0]?[socket] != nil }
            return viewed.map { place in
                state.viewers[place]?[socket] = nil
                if state.viewers[place]?.isEmpty == true { state.viewers[place] = nil }
                let (message, sockets) = Self.update(place, in: state)
                return (message, sockets.compactMap { state.outboxes[$0] })
            }
        }
        for (message, outboxes) in updates { for outbox in outboxes { outbox.yield(message) } }
    }

    /// The socket subscribed to a resource's events: it watches the resource's viewers, and is sent them now.
    package func watch(_ socket: UInt64, teamID: String, resource: String) {
        let place = Place(teamID: teamID, resource: resource)
        let (message, outbox) = state.withLock { state in
            state.watchers[place, default: [:]][socket, default: 0] += 1
            return (Self.update(place, in: state).0, state.outboxes[socket])
        }
        outbox?.yield(message)
    }

    package func unwatch(_ socket: UInt64, teamID: String, resource: String) {
        let place = Place(teamID: teamID, resource: resource)
        state.withLock { state in
            let left = (state.watchers[place]?[socket] ?? 1) - 1
            state.watchers[place]?[socket] = left > 0 ? left : nil
            if state.watchers[place]?.isEmpty == true { state.watchers[place] = nil }
        }
    }

    /// The socket's viewer views `resource` (or no longer does): everyone watching it is told, the socket
    /// too. False, changing nothing, when the socket already views `limit` resources.
    package func set(
        _ socket: UInt64, teamID: String, resource: String, viewing: Bool, keyID: String?, userID: String?, limit: Int
    ) -> Bool {
        let place = Place(teamID: teamID, resource: resource)
        let (allowed, message, outboxes) = state.withLock { state -> (Bool, String, [Outbox]) in
            let wasViewing = state.viewers[place]?[socket] != nil
            if viewing && !wasViewing {
                guard state.viewers.values.count(where: { $0[socket] != nil }) < limit else { return (false, "", []) }
                state.viewers[place, default: [:]][socket] = Viewer(keyID: keyID, userID: userID, since: StoreTime.now() / 1000)
            } else if !viewing && wasViewing {
                state.viewers[place]?[socket] = nil
                if state.viewers[place]?.isEmpty == true { state.viewers[place] = nil }
            }
            let (message, sockets) = Self.update(place, in: state)
            // Nothing changed: only the socket is answered. The socket hears of its own change even when it no longer watches.
            let told = viewing == wasViewing ? [socket] : sockets.union([socket])
            return (true, message, told.compactMap { state.outboxes[$0] })
        }
        for outbox in outboxes { outbox.yield(message) }
        return allowed
    }

    /// The `presence.update` of `place`, and the sockets that watch or view it.
    private static func update(_ place: Place, in state: State) -> (String, Set<UInt64>) {
        let viewers = (state.viewers[place] ?? [:]).sorted { $0.key < $1.key }.map(\.value)
        let message = PresenceUpdate(resource: place.resource, viewers: viewers)
        let text = String(decoding: (try? wireJSON(message)) ?? Data("{}".utf8), as: UTF8.self)
        return (text, Set((state.watchers[place] ?? [:]).keys).union((state.viewers[place] ?? [:]).keys))
    }

    private struct PresenceUpdate: Encodable {
        var type = "presence.update"
        var resource: String
        var viewers: [Viewer]
    }
}
