import Conduit
import ConduitTestSupport
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SQLKit
import Testing

@testable import ConduitChat
@testable import ConduitCore
@testable import ConduitEvents
@testable import Store

/// The event log over a WebSocket (`GET /v1/ws`): subscriptions, resume, tickets, limits, presence.
extension EndToEnd {
    @Suite("Event WebSocket")
    struct EventSocketTests {
        private typealias Events = EventsAPITests

        private static func bearer(_ key: String) -> HTTPFields { [.authorization: "Bearer \(key)"] }

        /// A handshake written by hand, for the answers a WebSocket client library hides: its status and body.
        private static func handshake(port: Int, path: String = "/v1/ws", headers: [String: String] = [:]) async throws -> String {
            try await RawHTTP.exchange(port: port, send: handshakeRequest(path: path, headers: headers), wait: .seconds(2)).bytes
        }

        private static func handshakeRequest(path: String = "/v1/ws", headers: [String: String] = [:]) -> String {
            var lines = [
                "GET \(path) HTTP/1.1", "Host: localhost", "Connection: Upgrade", "Upgrade: websocket",
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13",
            ]
            lines += headers.map { "\($0): \($1)" }
            return lines.joined(separator: "\r\n") + "\r\n\r\n"
        }

        private static func code(_ message: [String: Any]?) -> String? { (message?["error"] as? [String: Any])?["code"] as? String }

        private static func resources(_ messages: [[String: Any]]) -> [String] {
            messages.compactMap { ($0["event"] as? [String: Any])?["resource"] as? String }
        }

        /// The next `count` events of `subscription`.
        private static func events(_ count: Int, on socket: TestSocket, subscription: String) async -> [[String: Any]] {
            var events: [[String: Any]] = []
            while events.count < count, let message = await socket.next("event") {
                if message["subscription"] as? String == subscription { events.append(message) }
            }
            return events
        }

        @Test(
            "a subscription sends the backlog after its cursor, then each new event within a second; resubscribed after a dropped socket it loses and repeats nothing",
            arguments: Backend.allCases)
        func resumes(backend: Backend) async throws {
            try await TestDatabase.withTeam(backend) { store, team in
                let key = try await store.keys.create(name: "jobs", teamID: team.id, scopes: [.jobs]).secret
                let before = try await Events.completeJobs(2, store: store, team: team)
                let app = try TestServer.authenticatedApplication(store: store, Events.eventsConfiguration { _ in })
                try await app.test(.live) { client in
                    let port = try #require(client.port)
                    let socket = try await TestSocket(port: port, headers: Self.bearer(key))
                    try socket.send(["type": "subscribe", "id": "jobs", "types": ["job.completed"]])
                    #expect(await socket.next()?["type"] as? String == "subscribed")
                    var seen = await Self.events(2, on: socket, subscription: "jobs")
                    #expect(Self.resources(seen) == before.map { "job:\($0)" })
                    let recorded = ContinuousClock.now
                    let live = try await Events.completeJobs(1, store: store, team: team)
                    seen += await Self.events(1, on: socket, subscription: "jobs")
                    #expect(Self.resources(seen).last == "job:\(live[0])")
                    #expect(ContinuousClock.now - recorded < .seconds(1), "delivered within a second")
                    // The socket drops; three jobs end meanwhile; a new socket resumes after the last event seen.
                    socket.close()
                    let missed = try await Events.completeJobs(3, store: store, team: team)
                    let last = try #require((seen.last?["event"] as? [String: Any])?["sequence"] as? Int)
                    let resumed = try await TestSocket(port: port, headers: Self.bearer(key))
                    try resumed.send(["type": "subscribe", "id": "again", "after": last])
                    let rest = await Self.events(3, on: resumed, subscription: "again")
                    #expect(Self.resources(rest) == missed.map { "job:\($0)" })
                    #expect(await resumed.next("event", within: .milliseconds(600)) == nil, "nothing repeated")
                    // Unsubscribed, it hears nothing more of that subscription.
                    try resumed.send(["type": "unsubscribe", "id": "again"])
                    #expect(await resumed.next("unsubscribed")?["id"] as? String == "again")
                    _ = try await Events.completeJobs(1, store: store, team: team)
                    #expect(await resumed.next("event", within: .milliseconds(600)) == nil)
                    try resumed.send(["type": "ping"])
                    #expect(await resumed.next("pong") != nil)
                    resumed.close()
                }
            }
        }

        @Test("subscriptions are multiplexed with their own filters, see only their team, and are refused types their key cannot read")
        func isolation() async throws {
            try await TestDatabase.withTeams(.sqlite) { store, team, other in
                let key = try await store.keys.create(name: "jobs", teamID: team.id, scopes: [.jobs]).secret
                let app = try TestServer.authenticatedApplication(store: store, Events.eventsConfiguration { _ in })
                try await app.test(.live) { client in
                    let socket = try await TestSocket(port: try #require(client.port), headers: Self.bearer(key))
                    try socket.send(["type": "subscribe", "id": "keys", "types": ["key.created"]])
                    let refused = await socket.next("error")
                    #expect(
                        refused?["id"] as? String == "keys"
                            && (refused?["error"] as? [String: Any])?["code"] as? String == "insufficient_scope")
                    try socket.send(["type": "subscribe", "id": "all"])
                    #expect(await socket.next("subscribed")?["id"] as? String == "all")
                    _ = try await Events.completeJobs(2, store: store, team: other)
                    _ = try await store.keys.create(name: "admin's business", teamID: team.id, scopes: [.admin])
                    let mine = try await Events.completeJobs(2, store: store, team: team)
                    try socket.send(["type": "subscribe", "id": "one", "resource": "job:\(mine[1])"])
                    let all = await Self.events(2, on: socket, subscription: "all")
                    #expect(Self.resources(all) == mine.map { "job:\($0)" }, "only this team's jobs, not its key events")
                    #expect(Self.resources(await Self.events(1, on: socket, subscription: "one")) == ["job:\(mine[1])"])
                    try socket.send(["type": "subscribe", "id": "all"])
                    #expect(((await socket.next("error"))?["error"] as? [String: Any])?["code"] as? String == "duplicate_subscription")
                    try socket.send(["type": "dance"])
                    #expect(((await socket.next("error"))?["error"] as? [String: Any])?["param"] as? String == "type")
                    socket.close()
                }
            }
        }

        @Test(
            "a browser's ticket opens one socket once: reused, expired or on another path it is refused with 401 invalid_ticket and the error body"
        )
        func tickets() async throws {
            try await TestDatabase.withTeam(.sqlite) { store, team in
                let issued = try await store.keys.create(name: "jobs", teamID: team.id, scopes: [.jobs])
                let app = try TestServer.authenticatedApplication(store: store, Events.eventsConfiguration { _ in })
                try await app.test(.live) { client in
                    let port = try #require(client.port)
                    let created = try await client.execute(uri: "/v1/ws/tickets", method: .post, headers: Self.bearer(issued.secret))
                    #expect(created.status == .created)
                    let body = try #require(try JSONSerialization.jsonObject(with: Data(created.body.readableBytesView)) as? [String: Any])
                    let ticket = try #require(body["ticket"] as? String)
                    #expect(
                        RequestRedaction.redact(target: "/v1/ws?a=1&ticket=\(ticket)") == "/v1/ws?a=1&ticket=[redacted]", "never logged")
                    #expect(
                        try await store.read { sql in
                            try await sql.raw("SELECT COUNT(*) AS n FROM ws_tickets WHERE ticket_hash = \(bind: ticket)").first()?.decode(
                                column: "n", as: Int.self)
                        } == 0, "stored hashed")
                    // Not on another path: a ticket is worth one socket.
                    let elsewhere = try await client.execute(uri: "/v1/events?ticket=\(ticket)", method: .get)
                    #expect(elsewhere.status == .unauthorized)
                    let socket = try await TestSocket(port: port, path: "/v1/ws?ticket=\(ticket)")
                    try socket.send(["type": "subscribe", "id": "s"])
                    #expect(await socket.next("subscribed") != nil)
                    let reused = try await Self.handshake(port: port, path: "/v1/ws?ticket=\(ticket)")
                    #expect(reused.hasPrefix("HTTP/1.1 401"))
                    #expect(reused.contains(#""code":"invalid_ticket""#))
                    // A ticket whose key is revoked before it is used opens nothing.
                    let second = try await store.webSocketTickets.issue(
                        teamID: team.id, keyID: issued.key.id, userID: nil, lifetime: .seconds(30))
                    _ = try await store.keys.revoke(id: issued.key.id, teamID: team.id)
                    #expect(try await Self.handshake(port: port, path: "/v1/ws?ticket=\(second.ticket)").hasPrefix("HTTP/1.1 401"))
                    // An expired one neither.
                    let live = try await store.keys.create(name: "live", teamID: team.id, scopes: [.jobs])
                    let expired = try await store.webSocketTickets.issue(teamID: team.id, keyID: live.key.id, userID: nil, lifetime: .zero)
                    #expect(try await Self.handshake(port: port, path: "/v1/ws?ticket=\(expired.ticket)").hasPrefix("HTTP/1.1 401"))
                    socket.close()
                }
            }
        }

        @Test("refused handshakes get the route's own answer: 401 without credentials, 429 past the key's streams, 426 for a plain GET")
        func refusals() async throws {
            try await TestDatabase.withTeam(.sqlite) { store, team in
                let key = try await store.keys.create(name: "jobs", teamID: team.id, scopes: [.jobs]).secret
                // The socket is one stream, its subscription another.
                let app = try TestServer.authenticatedApplication(store: store, Events.eventsConfiguration { $0.maxStreamsPerKey = 2 })
                try await app.test(.live) { client in
                    let port = try #require(client.port)
                    let anonymous = try await Self.handshake(port: port)
                    #expect(anonymous.hasPrefix("HTTP/1.1 401") && anonymous.contains(#""code":"missing_api_key""#))
                    let socket = try await TestSocket(port: port, headers: Self.bearer(key))
                    try socket.send(["type": "subscribe", "id": "s"])
                    #expect(await socket.next("subscribed") != nil)
                    let full = try await Self.handshake(port: port, headers: ["Authorization": "Bearer \(key)"])
                    #expect(full.hasPrefix("HTTP/1.1 429") && full.contains(#""code":"too_many_streams""#))
                    // Within the socket, a second subscription is past the limit too.
                    try socket.send(["type": "subscribe", "id": "t"])
                    #expect(((await socket.next("error"))?["error"] as? [String: Any])?["code"] as? String == "too_many_streams")
                    let other = try await store.keys.create(name: "other", teamID: team.id, scopes: [.jobs]).secret
                    let plain = try await client.execute(uri: "/v1/ws", method: .get, headers: Self.bearer(other))
                    #expect(plain.status == .upgradeRequired && plain.headers[.upgrade] == "websocket")
                    socket.close()
                }
            }
        }

        @Test(
            "a subscription that falls behind more than events.stream_buffer is sent resync_required with its cursor, and the socket is closed"
        )
        func slowConsumer() async throws {
            try await TestDatabase.withTeam(.sqlite) { store, team in
                let key = try await store.keys.create(name: "jobs", teamID: team.id, scopes: [.jobs]).secret
                let app = try TestServer.authenticatedApplication(store: store, Events.eventsConfiguration { $0.streamBuffer = 10 })
                try await app.test(.live) { client in
                    let socket = try await TestSocket(port: try #require(client.port), headers: Self.bearer(key))
                    try socket.send(["type": "subscribe", "id": "s"])
                    #expect(await socket.next("subscribed") != nil)
                    try await store.transaction { sql in
                        for index in 0..<30 {
                            try await store.events.insert(
                                NewEvent(JobEvents.Completed(jobID: "burst-\(index)", kind: "embeddings", queue: "test")), teamID: team.id,
                                now: StoreTime.now(), in: sql)
                        }
                    }
                    let notice = await socket.next("resync_required")
                    #expect(notice?["subscription"] as? String == "s" && notice?["after"] as? Int == 0)
                    #expect(try await socket.closed() == "unknown(1013)")
                }
            }
        }

        @Test(
            "presence: a socket viewing a resource is shown to the team's others watching it, until it leaves or disconnects; other teams see nothing"
        )
        func presence() async throws {
            try await TestDatabase.withTeams(.sqlite) { store, team, other in
                let first = try await store.keys.create(name: "a", teamID: team.id, scopes: [.jobs])
                let second = try await store.keys.create(name: "b", teamID: team.id, scopes: [.jobs])
                let outsider = try await store.keys.create(name: "c", teamID: other.id, scopes: [.jobs]).secret
                let app = try TestServer.authenticatedApplication(store: store, Events.eventsConfiguration { _ in })
                try await app.test(.live) { client in
                    let port = try #require(client.port)
                    let watcher = try await TestSocket(port: port, headers: Self.bearer(second.secret))
                    try watcher.send(["type": "subscribe", "id": "c", "resource": "conversation:42"])
                    #expect((await watcher.next("presence.update"))?["viewers"] as? [Any] != nil, "told who views it as it subscribes")
                    let stranger = try await TestSocket(port: port, headers: Self.bearer(outsider))
                    try stranger.send(["type": "subscribe", "id": "c", "resource": "conversation:42"])
                    _ = await stranger.next("presence.update")
                    let viewer = try await TestSocket(port: port, headers: Self.bearer(first.secret))
                    try viewer.send(["type": "presence", "resource": "conversation:42", "state": "viewing"])
                    let update = await watcher.next("presence.update")
                    #expect((update?["viewers"] as? [[String: Any]])?.compactMap { $0["key_id"] as? String } == [first.key.id])
                    #expect(await viewer.next("presence.update") != nil, "the viewer hears of its own change")
                    #expect(
                        await stranger.next("presence.update", within: .milliseconds(500)) == nil, "another team's socket hears nothing")
                    viewer.close()
                    let gone = await watcher.next("presence.update")
                    #expect((gone?["viewers"] as? [Any])?.isEmpty == true, "a disconnected viewer leaves")
                    watcher.close()
                    stranger.close()
                }
            }
        }

        @Test("presence crosses nodes: a viewer on one node is seen by a watcher on another within a second, and its leaving too")
        func presenceAcrossNodes() async throws {
            try await Events.withTwoNodes { first, second in
                let team = try await first.teams.create(name: "t")
                let watcherKey = try await first.keys.create(name: "a", teamID: team.id, scopes: [.jobs]).secret
                let viewer = try await first.keys.create(name: "b", teamID: team.id, scopes: [.jobs])
                // The watcher's node checks every 200 ms for nodes gone quiet; the viewer's tells all again only
                // every minute, so what the watcher hears within the test is the viewer's changes as they happen.
                let nodeA = try TestServer.authenticatedApplication(store: first, Events.eventsConfiguration { _ in })
                let nodeB = try TestServer.authenticatedApplication(
                    store: second, Events.eventsConfiguration { $0.heartbeat = .seconds(60) })
                try await nodeA.test(.live) { clientA in
                    try await nodeB.test(.live) { clientB in
                        let watcher = try await TestSocket(port: try #require(clientA.port), headers: Self.bearer(watcherKey))
                        try watcher.send(["type": "subscribe", "id": "c", "resource": "conversation:7"])
                        #expect((await watcher.next("presence.update"))?["viewers"] as? [Any] != nil)
                        // Both nodes listen once they serve; a viewer announced before would only be heard at the next heartbeat.
                        try await Task.sleep(for: .milliseconds(300))
                        let viewing = try await TestSocket(port: try #require(clientB.port), headers: Self.bearer(viewer.secret))
                        let started = ContinuousClock.now
                        try viewing.send(["type": "presence", "resource": "conversation:7", "state": "viewing"])
                        var seen: [String] = []
                        while seen.isEmpty, let update = await watcher.next("presence.update", within: .seconds(2)) {
                            seen = (update["viewers"] as? [[String: Any]])?.compactMap { $0["key_id"] as? String } ?? []
                        }
                        #expect(seen == [viewer.key.id], "the other node's viewer")
                        #expect(ContinuousClock.now - started < .seconds(1))
                        let own = await viewing.next("presence.update")
                        #expect(
                            (own?["viewers"] as? [[String: Any]])?.compactMap { $0["key_id"] as? String } == [viewer.key.id],
                            "its own node lists it once: a node takes no notice of its own notices")
                        viewing.close()
                        var gone = false
                        while !gone, let update = await watcher.next("presence.update", within: .seconds(2)) {
                            gone = (update["viewers"] as? [Any])?.isEmpty == true
                        }
                        #expect(gone, "a viewer that left another node is gone here too")
                        // A node that stops without a word: its viewers go after three of its heartbeats (at least a second each).
                        let ghost =
                            #"{"every_ms":200,"node":"ghost","resource":"conversation:7","team_id":"\#(team.id)","viewers":[{"key_id":"k-ghost","since":1}]}"#
                        try await second.presenceNotices.send(ghost)
                        seen = []
                        while seen.isEmpty, let update = await watcher.next("presence.update", within: .seconds(2)) {
                            seen = (update["viewers"] as? [[String: Any]])?.compactMap { $0["key_id"] as? String } ?? []
                        }
                        #expect(seen == ["k-ghost"])
                        let heard = ContinuousClock.now
                        let forgotten = await watcher.next("presence.update", within: .seconds(5))
                        #expect((forgotten?["viewers"] as? [Any])?.isEmpty == true && ContinuousClock.now - heard >= .seconds(2))
                        watcher.close()
                    }
                }
            }
        }

        @Test(
            "a chat turn started over the socket streams the provider's chunks as chat.chunk then chat.done, metered as the route's; cancel stops it and the provider's call; a key without the chat scope, a bad request and an unknown model get the error with the turn's id"
        )
        func chatTurns() async throws {
            let provider = FakeProvider()
            try await provider.application().test(.live) { providerClient in
                try await TestDatabase.withTeam(.sqlite) { store, team in
                    let chat = try await store.keys.create(name: "chat", teamID: team.id, scopes: [.chat]).secret
                    let jobsOnly = try await store.keys.create(name: "jobs", teamID: team.id, scopes: [.jobs]).secret
                    let port = try #require(providerClient.port)
                    let app = try TestServer.authenticatedApplication(store: store) { configuration in
                        configuration.chat.models = try! GatewayModelTable([
                            GatewayModel(name: "smart", deployments: [ChatGatewayTests.deployment("a", port: port)])
                        ])
                    }
                    try await app.test(.live) { client in
                        let socket = try await TestSocket(port: try #require(client.port), headers: Self.bearer(chat))
                        let request: [String: Any] = ["model": "smart", "messages": [["role": "user", "content": "hi"]]]
                        try socket.send(["type": "chat", "id": "t1", "request": request])
                        var words: [String] = []
                        var message = await socket.next()
                        while let chunk = message, chunk["type"] as? String == "chat.chunk", words.count < 10 {
                            #expect(chunk["id"] as? String == "t1")
                            let choice = ((chunk["chunk"] as? [String: Any])?["choices"] as? [[String: Any]])?.first
                            words.append((choice?["delta"] as? [String: Any])?["content"] as? String ?? "")
                            message = await socket.next()
                        }
                        #expect(words.joined() == "hello there ", "the provider's default answer, word by word")
                        #expect(message?["type"] as? String == "chat.done" && message?["id"] as? String == "t1")
                        let sent = try #require(provider.calls(to: "a").last)
                        #expect(sent.body["stream"] == .bool(true) && sent.body["model"] == .string("upstream-a"))
                        let metered = try await eventually(within: .seconds(5), every: .milliseconds(50)) {
                            try await store.usage.summary(teamID: team.id, from: 0, to: .max).contains {
                                $0.model == "smart" && $0.requests >= 1
                            }
                        }
                        #expect(metered, "the turn is recorded as the route's calls are")

                        // Cancelled after its first chunk: the socket says so and the provider's stream is dropped.
                        provider.script("a", [.endless])
                        try socket.send(["type": "chat", "id": "t2", "request": request])
                        #expect(await socket.next("chat.chunk")?["id"] as? String == "t2")
                        try socket.send(["type": "cancel", "id": "t2"])
                        #expect(await socket.next("cancelled")?["id"] as? String == "t2")
                        let dropped = try await eventually(within: .seconds(3), every: .milliseconds(20)) { provider.abandonedStreams >= 1 }
                        #expect(dropped, "cancelling the turn cancels the provider's call")
                        try socket.send(["type": "cancel", "id": "t2"])
                        #expect(Self.code(await socket.next("error")) == "unknown_operation")

                        try socket.send([
                            "type": "chat", "id": "t3",
                            "request": ["model": "nonexistent", "messages": [["role": "user", "content": "hi"]]],
                        ])
                        let unknown = await socket.next("error")
                        #expect(
                            unknown?["id"] as? String == "t3" && Self.code(unknown) == "model_not_found", "\(String(describing: unknown))")
                        try socket.send(["type": "chat", "id": "t4", "request": "hello"])
                        #expect(Self.code(await socket.next("error")) == "invalid_value")
                        // JSON the API's strict reading refuses is an error, and the socket stays.
                        socket.sendText(#"{"type":"chat","id":"t5","request":{"model":"smart","x":1e400}}"#)
                        #expect(Self.code(await socket.next("error")) == "invalid_message")
                        // A stream the provider breaks off ends the turn with the error, not chat.done.
                        provider.script("a", [.resetMidStream])
                        try socket.send(["type": "chat", "id": "t6", "request": request])
                        let broken = await socket.next("error")
                        #expect(
                            broken?["id"] as? String == "t6" && Self.code(broken) == "upstream_stream_interrupted",
                            "\(String(describing: broken))")
                        // The id is free as soon as its end is told.
                        try socket.send(["type": "chat", "id": "t6", "request": request])
                        #expect(await socket.next("chat.done")?["id"] as? String == "t6")
                        try socket.send(["type": "ping"])
                        #expect(await socket.next("pong") != nil)
                        socket.close()

                        let refused = try await TestSocket(port: try #require(client.port), headers: Self.bearer(jobsOnly))
                        try refused.send(["type": "chat", "id": "t5", "request": request])
                        #expect(Self.code(await refused.next("error")) == "insufficient_scope")
                        #expect(provider.calls(to: "a").count == 4, "refused turns never reach the provider")
                        refused.close()
                    }
                }
            }
        }

        @Test("a socket whose key is revoked is sent unauthorized and closed (1008): at its next subscription, or within a heartbeat")
        func revoked() async throws {
            try await TestDatabase.withTeam(.sqlite) { store, team in
                let first = try await store.keys.create(name: "a", teamID: team.id, scopes: [.jobs])
                let second = try await store.keys.create(name: "b", teamID: team.id, scopes: [.jobs])
                let app = try TestServer.authenticatedApplication(
                    store: store, Events.eventsConfiguration { $0.heartbeat = .milliseconds(500) })
                try await app.test(.live) { client in
                    let port = try #require(client.port)
                    let subscribing = try await TestSocket(port: port, headers: Self.bearer(first.secret))
                    let quiet = try await TestSocket(port: port, headers: Self.bearer(second.secret))
                    try subscribing.send(["type": "subscribe", "id": "s"])
                    #expect(await subscribing.next("subscribed") != nil)
                    _ = try await store.keys.revoke(id: first.key.id, teamID: team.id)
                    _ = try await store.keys.revoke(id: second.key.id, teamID: team.id)
                    // Reading the history again needs the access the socket opened with.
                    try subscribing.send(["type": "subscribe", "id": "t", "after": 0])
                    #expect(await subscribing.next("unauthorized", within: .seconds(3)) != nil)
                    #expect(try await subscribing.closed() == "policyViolation")
                    // A socket that does nothing is checked every heartbeat.
                    #expect(await quiet.next("unauthorized", within: .seconds(3)) != nil)
                    #expect(try await quiet.closed() == "policyViolation")
                }
            }
        }

        @Test("an event committed through one node reaches a WebSocket on another within a second, by PostgreSQL's notifications")
        func acrossNodes() async throws {
            try await Events.withTwoNodes { writer, reading in
                let team = try await writer.teams.create(name: "t")
                let key = try await writer.keys.create(name: "jobs", teamID: team.id, scopes: [.jobs]).secret
                let app = try TestServer.authenticatedApplication(
                    store: reading, Events.eventsConfiguration { $0.pollInterval = .seconds(60) })
                try await app.test(.live) { client in
                    let socket = try await TestSocket(port: try #require(client.port), headers: Self.bearer(key))
                    try socket.send(["type": "subscribe", "id": "s"])
                    #expect(await socket.next("subscribed") != nil)
                    let recorded = ContinuousClock.now
                    let id = try await Events.completeJobs(1, store: writer, team: team)[0]
                    #expect(Self.resources(await Self.events(1, on: socket, subscription: "s")) == ["job:\(id)"])
                    #expect(ContinuousClock.now - recorded < .seconds(1))
                    socket.close()
                }
            }
        }
    }
}
