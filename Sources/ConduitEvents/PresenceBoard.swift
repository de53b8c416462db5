import Foundation
import Store
import Synchronization

/// Who is viewing what: a socket says it views a resource (`{"type": "presence", "resource":
/// "conversation:…", "state": "viewing"}`), and every socket of the team that watches the resource
/// (views it too, or subscribes to its events) is sent the resource's viewers (`presence.update`) at each
/// change, a socket's disconnection included.
///
/// Across nodes (PostgreSQL, `PresenceExchange`): the board tells the others its viewers of a resource
/// at each change (`share`), and again every heartbeat; it adds what the others tell it to its own, and
/// forgets a node it has not heard of for three of that node's heartbeats (one that stopped without a word).
package final class PresenceBoard: Sendable {
    /// Where a socket's presence messages go: its outbox, which keeps the newest when the client is slow
    /// (an older presence state is worth nothing once a newer one exists).
    package typealias Outbox = AsyncStream<String>.Continuation

    struct Viewer: Codable, Sendable, Equatable {
        var keyID: String?
        var userID: String?
        /// When the viewer began viewing, in seconds since 1970.
        var since: Int64

        /// Written snake_case as the API writes (`wireJSON`), and read back so from other nodes.
        enum CodingKeys: String, CodingKey {
            case keyID = "key_id"
            case userID = "user_id"
            case since
        }
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
        /// Other nodes' viewers of a place, by node, and until when they stand unless told again.
        var elsewhere: [Place: [String: (viewers: [Viewer], expires: ContinuousClock.Instant)]] = [:]
        /// Where the board's notices go once it shares them, and how often it tells all again.
        var notices: AsyncStream<String>.Continuation?
        var heartbeat: (@Sendable () -> Duration)?
    }

    /// What one node says of a place: its viewers there (none: it has none now).
    private struct Notice: Codable {
        var node: String
        var teamID: String
        var resource: String
        var viewers: [Viewer]
        /// How often the node tells all again, in milliseconds: its viewers stand three times as long.
        var every: Int64

        enum CodingKeys: String, CodingKey {
            case node
            case teamID = "team_id"
            case resource, viewers
            case every = "every_ms"
        }
    }

    private let state = Mutex(State())
    private let nextSocket = Atomic<UInt64>(1)
    /// This node, in its notices.
    private let node = UUID().uuidString

    package init() {}

    /// The notices of this board's changes, for the other nodes; made once, when it starts sharing. It
    /// tells all again every `heartbeat` (`refresh`).
    package func share(heartbeat: @escaping @Sendable () -> Duration) -> AsyncStream<String> {
        let (notices, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(10_000))
        state.withLock {
            $0.notices = continuation
            $0.heartbeat = heartbeat
        }
        return notices
    }

    /// Takes in another node's notice: everyone here watching the place is sent its viewers, theirs added.
    package func heard(_ text: String) {
        guard let notice = try? JSONDecoder().decode(Notice.self, from: Data(text.utf8)), notice.node != node else { return }
        let place = Place(teamID: notice.teamID, resource: notice.resource)
        let expires = ContinuousClock.now + .milliseconds(max(notice.every, 1000)) * 3
        let update = state.withLock { state -> (String, [Outbox])? in
            let before = state.elsewhere[place]?[notice.node]?.viewers ?? []
            state.elsewhere[place, default: [:]][notice.node] = notice.viewers.isEmpty ? nil : (notice.viewers, expires)
            if state.elsewhere[place]?.isEmpty == true { state.elsewhere[place] = nil }
            // Told again what it knew (a heartbeat's notice): the sockets here have heard it.
            guard before != notice.viewers else { return nil }
            let (message, sockets) = Self.update(place, in: state)
            return (message, sockets.compactMap { state.outboxes[$0] })
        }
        if let (message, outboxes) = update { for outbox in outboxes { outbox.yield(message) } }
    }

    /// Every heartbeat: tells the others again what this node's sockets view (a node that started since
    /// learns it), and forgets the viewers of nodes not heard of in time.
    package func refresh() {
        let now = ContinuousClock.now
        let updates = state.withLock { state -> [(String, [Outbox])] in
            for place in state.viewers.keys { Self.announce(place, in: state, from: node) }
            var updates: [(String, [Outbox])] = []
            for (place, nodes) in state.elsewhere {
                let current = nodes.filter { $0.value.expires >= now }
                guard current.count < nodes.count else { continue }
                state.elsewhere[place] = current.isEmpty ? nil : current
                let (message, sockets) = Self.update(place, in: state)
                updates.append((message, sockets.compactMap { state.outboxes[$0] }))
            }
            return updates
        }
        for (message, outboxes) in updates { for outbox in outboxes { outbox.yield(message) } }
    }

    /// Tells the other nodes this node's viewers of `place`, when the board shares.
    private static func announce(_ place: Place, in state: State, from node: String) {
        guard let notices = state.notices, let heartbeat = state.heartbeat else { return }
        var notice = Notice(
            node: node, teamID: place.teamID, resource: place.resource,
            viewers: localViewers(place, in: state),
            every: Int64(heartbeat() / .milliseconds(1)))
        // A notification carries less than 8,000 bytes: the first viewers of a crowded place are told.
        while let text = try? wireJSON(notice) {
            if text.count < Self.largestNotice || notice.viewers.isEmpty {
                notices.yield(String(decoding: text, as: UTF8.self))
                return
            }
            notice.viewers.removeLast((notice.viewers.count + 1) / 2)
        }
    }

    private static let largestNotice = 7_900

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
                Self.announce(place, in: state, from: node)
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
            if viewing != wasViewing { Self.announce(place, in: state, from: node) }
            let (message, sockets) = Self.update(place, in: state)
            // Nothing changed: only the socket is answered. The socket hears of its own change even when it no longer watches.
            let told = viewing == wasViewing ? [socket] : sockets.union([socket])
            return (true, message, told.compactMap { state.outboxes[$0] })
        }
        for outbox in outboxes { outbox.yield(message) }
        return allowed
    }

    /// The `presence.update` of `place` (this node's viewers, then the other nodes'), and the sockets here
    /// that watch or view it.
    private static func update(_ place: Place, in state: State) -> (String, Set<UInt64>) {
        let elsewhere = (state.elsewhere[place] ?? [:]).sorted { $0.key < $1.key }.flatMap(\.value.viewers)
        let viewers = localViewers(place, in: state) + elsewhere
        let message = PresenceUpdate(resource: place.resource, viewers: viewers)
        let text = String(decoding: (try? wireJSON(message)) ?? Data("{}".utf8), as: UTF8.self)
        return (text, Set((state.watchers[place] ?? [:]).keys).union((state.viewers[place] ?? [:]).keys))
    }

    /// The viewers of `place` on this node, in the order their sockets joined.
    private static func localViewers(_ place: Place, in state: State) -> [Viewer] {
        (state.viewers[place] ?? [:]).sorted { $0.key < $1.key }.map(\.value)
    }

    private struct PresenceUpdate: Encodable {
        var type = "presence.update"
        var resource: String
        var viewers: [Viewer]
    }
}
