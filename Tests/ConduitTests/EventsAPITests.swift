import AsyncHTTPClient
import Conduit
import ConduitTestSupport
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import SQLKit
import Testing

@testable import ConduitCore
@testable import ConduitEvents
@testable import Store

/// The event log: its catalogue, its history (`GET /v1/events`) and its live stream (`GET /v1/events/stream`).
extension EndToEnd {
    @Suite("Events API")
    struct EventsAPITests {
        @Test("docs/events.md is the catalogue the code declares (conduit events types > docs/events.md)")
        func catalogueDocument() throws {
            let root = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            let written = try String(contentsOf: root.appending(path: "docs/events.md"), encoding: .utf8)
            #expect(written == EventCatalogue.text)
            let types = NodeFeature.eventTypes.map { $0.type }
            #expect(Set(types).count == types.count, "a type declared twice")
            for type in NodeFeature.eventTypes {
                #expect(NewEvent(type.example).topic == type.type)
            }
        }

        /// Records `count` job completions for `team` (jobs enqueued, claimed and completed), each one event.
        static func completeJobs(_ count: Int, store: Database, team: Team) async throws -> [String] {
            var ids: [String] = []
            for _ in 0..<count {
                let (job, _) = try await store.jobs.enqueue(NewJob(kind: "embeddings", queue: "test", input: "{}"), teamID: team.id)
                let claimed = try await store.jobs.claim(queue: "test", limit: 10, node: "n", lease: 60_000)
                #expect(claimed.map(\.id) == [job.id])
                #expect(try await store.jobs.complete(job.id, node: "n", result: "{}"))
                ids.append(job.id)
            }
            return ids
        }

        private static func get(_ client: some TestClientProtocol, _ uri: String, key: String) async throws -> (
            HTTPResponse.Status, [String: Any]
        ) {
            let response = try await client.execute(uri: uri, method: .get, headers: [.authorization: "Bearer \(key)"])
            return (response.status, try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any] ?? [:])
        }

        private static func types(_ page: [String: Any]) -> [String] {
            (page["data"] as? [[String: Any]] ?? []).compactMap { $0["type"] as? String }
        }
        private static func sequences(_ page: [String: Any]) -> [Int] {
            (page["data"] as? [[String: Any]] ?? []).compactMap { $0["sequence"] as? Int }
        }

        @Test(
            "the history: numbered per team in commit order, paged with after, filtered by type and resource, each key seeing the types its scopes read and only its team's",
            arguments: Backend.allCases)
        func history(backend: Backend) async throws {
            try await TestDatabase.withTeams(backend) { store, team, other in
                let jobsKey = try await store.keys.create(name: "jobs", teamID: team.id, scopes: [.jobs]).secret
                let adminKey = try await store.keys.create(name: "admin", teamID: team.id, scopes: [.admin]).secret
                let otherKey = try await store.keys.create(name: "other", teamID: other.id, scopes: [.jobs, .admin]).secret
                let jobIDs = try await Self.completeJobs(3, store: store, team: team)
                let app = try TestServer.authenticatedApplication(store: store)
                try await app.test(.router) { client in
                    // The team's making, its two key.created, then its three job.completed: 1…6.
                    let (status, all) = try await Self.get(client, "/v1/events?limit=100", key: adminKey)
                    #expect(status == .ok)
                    #expect(
                        Self.types(all) == ["team.created", "key.created", "key.created"],
                        "an admin key reads the keys' events, not the jobs'")
                    let (_, jobs) = try await Self.get(client, "/v1/events?limit=100", key: jobsKey)
                    #expect(Self.types(jobs) == ["job.completed", "job.completed", "job.completed"])
                    #expect(Self.sequences(jobs) == [4, 5, 6])
                    let first = try #require((jobs["data"] as? [[String: Any]])?.first)
                    #expect(first["resource"] as? String == "job:\(jobIDs[0])")
                    #expect((first["data"] as? [String: Any])?["job_id"] as? String == jobIDs[0])
                    let (_, page) = try await Self.get(client, "/v1/events?limit=1&after=4", key: jobsKey)
                    #expect(Self.sequences(page) == [5] && page["has_more"] as? Bool == true && page["last_id"] as? String == "5")
                    let (_, one) = try await Self.get(client, "/v1/events?resource=job:\(jobIDs[2])", key: jobsKey)
                    #expect(Self.sequences(one) == [6])
                    let (_, typed) = try await Self.get(client, "/v1/events?types=job.cancelled,job.discarded", key: jobsKey)
                    #expect(Self.types(typed).isEmpty)
                    #expect(try await Self.get(client, "/v1/events?types=job.exploded", key: jobsKey).0 == .badRequest)
                    let forbidden = try await Self.get(client, "/v1/events?types=key.created", key: jobsKey)
                    #expect(
                        forbidden.0 == .forbidden && (forbidden.1["error"] as? [String: Any])?["code"] as? String == "insufficient_scope")
                    #expect(try await Self.get(client, "/v1/events?after=-1", key: jobsKey).0 == .badRequest)
                    // The other team: its own making and its key's event, none of this team's.
                    let (_, theirs) = try await Self.get(client, "/v1/events?limit=100", key: otherKey)
                    #expect(Self.types(theirs) == ["team.created", "key.created"] && Self.sequences(theirs) == [1, 2])
                }
            }
        }

        @Test("a job's end is an event: completed, discarded after its last attempt, cancelled; a webhook delivery's is not")
        func jobEvents() async throws {
            try await TestDatabase.withTeam(.sqlite) { store, team in
                let (failing, _) = try await store.jobs.enqueue(
                    NewJob(kind: "embeddings", queue: "test", input: "{}", maxAttempts: 1), teamID: team.id)
                _ = try await store.jobs.claim(queue: "test", limit: 10, node: "n", lease: 60_000)
                _ = try await store.jobs.fail(failing.id, node: "n", message: "boom", backoff: RetryBackoff())
                let (waiting, _) = try await store.jobs.enqueue(NewJob(kind: "embeddings", queue: "test", input: "{}"), teamID: team.id)
                _ = try await store.jobs.cancel(waiting.id, teamID: team.id)
                let (delivery, _) = try await store.jobs.enqueue(
                    NewJob(kind: Webhook.deliveryKind, queue: "test", input: "{}"), teamID: team.id)
                _ = try await store.jobs.claim(queue: "test", limit: 10, node: "n", lease: 60_000)
                #expect(try await store.jobs.complete(delivery.id, node: "n", result: "{}"))
                // After the team's own first event, its making.
                let events = try await store.events.list(teamID: team.id).filter { $0.topic != "team.created" }
                #expect(events.map(\.topic) == ["job.discarded", "job.cancelled"])
                #expect(events.first?.payload.contains(#""error":"boom""#) == true)
                #expect(events.map(\.resource) == ["job:\(failing.id)", "job:\(waiting.id)"])
            }
        }

        // MARK: the live stream

        /// Opens `GET /v1/events/stream` on a live server, the whole exchange bounded by `deadline`.
        private static func openStream(
            port: Int, key: String, query: String = "", lastEventID: Int? = nil, deadline: Duration = .seconds(20)
        ) async throws -> (HTTPClientResponse, EventStreamReader) {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/events/stream\(query)")
            request.headers.add(name: "Authorization", value: "Bearer \(key)")
            if let lastEventID { request.headers.add(name: "Last-Event-ID", value: String(lastEventID)) }
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(Int64(deadline / .seconds(1))))
            return (response, EventStreamReader(response.body))
        }

        static func eventsConfiguration(_ configure: @escaping (inout EventsConfiguration) -> Void) -> (inout ServerConfiguration)
            -> Void
        {
            { configuration in
                configuration.events.heartbeat = .milliseconds(200)
                configure(&configuration.events)
            }
        }

        @Test(
            "a stream sends the backlog, then each new event within a second; resumed from Last-Event-ID it loses and repeats nothing",
            arguments: Backend.allCases)
        func streamResumes(backend: Backend) async throws {
            try await TestDatabase.withTeam(backend) { store, team in
                let key = try await store.keys.create(name: "jobs", teamID: team.id, scopes: [.jobs]).secret
                let before = try await Self.completeJobs(2, store: store, team: team)
                let app = try TestServer.authenticatedApplication(store: store, Self.eventsConfiguration { _ in })
                try await app.test(.live) { client in
                    let port = try #require(client.port)
                    let (response, reader) = try await Self.openStream(port: port, key: key)
                    #expect(response.status == .ok && response.headers.first(name: "content-type") == "text/event-stream")
                    var seen = try await reader.events(2)
                    #expect(seen.map(\.resource) == before.map { "job:\($0)" })
                    for _ in 0..<2 {
                        let recorded = ContinuousClock.now
                        let id = try await Self.completeJobs(1, store: store, team: team)[0]
                        let event = try #require(try await reader.events(1).first)
                        #expect(event.resource == "job:\(id)" && event.type == "job.completed")
                        #expect(ContinuousClock.now - recorded < .seconds(1), "delivered within a second")
                        seen.append(event)
                    }
                    // The client goes; three more jobs end meanwhile; it comes back where it was.
                    reader.stop()
                    let missed = try await Self.completeJobs(3, store: store, team: team)
                    let (_, resumed) = try await Self.openStream(port: port, key: key, lastEventID: try #require(seen.last?.sequence))
                    let rest = try await resumed.events(3)
                    #expect(rest.map(\.resource) == missed.map { "job:\($0)" })
                    #expect(zip(rest, rest.dropFirst()).allSatisfy { $0.sequence < $1.sequence })
                    #expect(rest.first.map { $0.sequence > seen.last!.sequence } == true)
                    // Nothing repeated after: the next thing is a ping, not an event already sent.
                    #expect(try await resumed.next()?.isPing == true)
                    resumed.stop()
                }
            }
        }

        @Test("a stream carries only its team's events of the types its key reads, and pings when quiet")
        func streamIsolation() async throws {
            try await TestDatabase.withTeams(.sqlite) { store, team, other in
                let key = try await store.keys.create(name: "jobs", teamID: team.id, scopes: [.jobs]).secret
                let app = try TestServer.authenticatedApplication(store: store, Self.eventsConfiguration { _ in })
                try await app.test(.live) { client in
                    let (_, reader) = try await Self.openStream(port: try #require(client.port), key: key)
                    _ = try await Self.completeJobs(2, store: store, team: other)
                    _ = try await store.keys.create(name: "admin's business", teamID: team.id, scopes: [.admin])
                    let mine = try await Self.completeJobs(1, store: store, team: team)
                    let event = try #require(try await reader.events(1).first)
                    #expect(event.resource == "job:\(mine[0])", "the other team's jobs and this team's key event are not on this stream")
                    var pinged = false
                    for _ in 0..<3 where !pinged { pinged = try await reader.next()?.isPing == true }
                    #expect(pinged)
                    reader.stop()
                }
            }
        }

        @Test("a stream of a key revoked since it opened ends at its next ping; resuming after events deleted with age says so")
        func revokedAndExpired() async throws {
            try await TestDatabase.withTeam(.sqlite) { store, team in
                let issued = try await store.keys.create(name: "jobs", teamID: team.id, scopes: [.jobs])
                _ = try await Self.completeJobs(3, store: store, team: team)
                // The two oldest events are deleted with age: a client that saw only the first resumes after a gap.
                try await store.read { sql in try await sql.raw("DELETE FROM events WHERE seq <= 3").run() }
                let app = try TestServer.authenticatedApplication(store: store, Self.eventsConfiguration { _ in })
                try await app.test(.live) { client in
                    let (_, reader) = try await Self.openStream(port: try #require(client.port), key: issued.secret, lastEventID: 1)
                    let notice = try await reader.next()
                    #expect(notice?.type == "events_expired" && notice?.data == #"{"after":1,"earliest":4}"#)
                    #expect(try await reader.events(1).first?.sequence == 4)
                    _ = try await store.keys.revoke(id: issued.key.id, teamID: team.id)
                    var message = try await reader.next()
                    while message?.isPing == true || message?.type == "job.completed" { message = try await reader.next() }
                    #expect(message?.type == "unauthorized")
                    #expect(try await reader.next() == nil, "the stream ends")
                }
            }
        }

        @Test("a client that falls behind more than events.stream_buffer is told resync_required with where to resume, and let go")
        func slowConsumer() async throws {
            try await TestDatabase.withTeam(.sqlite) { store, team in
                let key = try await store.keys.create(name: "jobs", teamID: team.id, scopes: [.jobs]).secret
                let app = try TestServer.authenticatedApplication(store: store, Self.eventsConfiguration { $0.streamBuffer = 10 })
                try await app.test(.live) { client in
                    let (_, reader) = try await Self.openStream(port: try #require(client.port), key: key)
                    let first = try #require(try await Self.completeJobs(1, store: store, team: team).first)
                    let seen = try #require(try await reader.events(1).first)
                    #expect(seen.resource == "job:\(first)")
                    // Thirty at once: more than the stream may hold.
                    try await store.transaction { sql in
                        for index in 0..<30 {
                            try await store.events.insert(
                                NewEvent(JobEvents.Completed(jobID: "burst-\(index)", kind: "embeddings", queue: "test")), teamID: team.id,
                                now: StoreTime.now(), in: sql)
                        }
                    }
                    var message = try await reader.next()
                    while message?.isPing == true { message = try await reader.next() }
                    #expect(message?.type == "resync_required")
                    #expect(message?.data == #"{"after":\#(seen.sequence)}"#)
                    #expect(try await reader.next() == nil, "the stream ends")
                }
            }
        }

        @Test("open streams are limited per key: the next is 429 too_many_streams until one closes")
        func streamLimits() async throws {
            try await TestDatabase.withTeam(.sqlite) { store, team in
                let key = try await store.keys.create(name: "jobs", teamID: team.id, scopes: [.jobs]).secret
                let app = try TestServer.authenticatedApplication(store: store, Self.eventsConfiguration { $0.maxStreamsPerKey = 2 })
                try await app.test(.live) { client in
                    let port = try #require(client.port)
                    let (_, first) = try await Self.openStream(port: port, key: key)
                    let (_, second) = try await Self.openStream(port: port, key: key)
                    let (refused, answer) = try await Self.openStream(port: port, key: key)
                    #expect(refused.status == .tooManyRequests)
                    #expect(try await answer.remainder().contains("too_many_streams"))
                    first.stop()
                    let reopened = try await eventually {
                        let (response, reader) = try await Self.openStream(port: port, key: key)
                        guard response.status == .ok else { return nil as EventStreamReader? }
                        return reader
                    }
                    #expect(reopened != nil)
                    reopened?.stop()
                    second.stop()
                }
            }
        }

        @Test("on SQLite an event committed by the node wakes its streams at the commit, not at the next poll")
        func sqliteWakesAtCommit() async throws {
            try await TestDatabase.withTeam(.sqlite) { store, team in
                let key = try await store.keys.create(name: "jobs", teamID: team.id, scopes: [.jobs]).secret
                let app = try TestServer.authenticatedApplication(store: store, Self.eventsConfiguration { $0.pollInterval = .seconds(60) })
                try await app.test(.live) { client in
                    let (_, reader) = try await Self.openStream(port: try #require(client.port), key: key)
                    #expect(try await reader.next()?.isPing == true, "the stream is open and quiet")
                    let recorded = ContinuousClock.now
                    let id = try await Self.completeJobs(1, store: store, team: team)[0]
                    let event = try #require(try await reader.events(1).first)
                    #expect(event.resource == "job:\(id)")
                    #expect(ContinuousClock.now - recorded < .milliseconds(500))
                    reader.stop()
                }
            }
        }

        @Test("a user's streams are held to the per-key limit as a key's are: the holder is the key or the user")
        func userStreamLimit() async throws {
            try await TestDatabase.withTeam(.sqlite) { store, team in
                var settings = EventsConfiguration()
                settings.maxStreamsPerKey = 1
                let hub = EventHub(store: store, settings: .constant(settings), logger: TestServer.logger)
                let user = try await store.users.create(email: "u@x.io", password: "long-enough-pass", role: .member, teamID: team.id)
                let identity = Identity(user: user, teamLimits: .none)
                #expect(identity.holder == "user:\(user.id)")
                let first = try await hub.subscribe(teamID: team.id, holder: identity.holder, filter: EventFilter())
                await #expect(throws: APIError.self) {
                    try await hub.subscribe(teamID: team.id, holder: identity.holder, filter: EventFilter())
                }
                let other = try await hub.subscribe(teamID: team.id, holder: "key:k", filter: EventFilter())
                hub.unsubscribe(first)
                hub.unsubscribe(first)
                let again = try await hub.subscribe(teamID: team.id, holder: identity.holder, filter: EventFilter())
                #expect(hub.openStreams == 2)
                hub.unsubscribe(again)
                hub.unsubscribe(other)
            }
        }

        @Test("an event committed through one node reaches a stream on another within a second, by PostgreSQL's notifications")
        func acrossNodes() async throws {
            try await Self.withTwoNodes { writer, reading in
                let team = try await writer.teams.create(name: "t")
                let key = try await writer.keys.create(name: "jobs", teamID: team.id, scopes: [.jobs]).secret
                // Polling once a minute: only a notification can bring the event within the second.
                let app = try TestServer.authenticatedApplication(
                    store: reading, Self.eventsConfiguration { $0.pollInterval = .seconds(60) })
                try await app.test(.live) { client in
                    let (_, reader) = try await Self.openStream(port: try #require(client.port), key: key)
                    #expect(try await reader.next()?.isPing == true, "the stream is open and quiet")
                    let recorded = ContinuousClock.now
                    let id = try await Self.completeJobs(1, store: writer, team: team)[0]
                    let event = try #require(try await reader.events(1).first)
                    #expect(event.resource == "job:\(id)")
                    #expect(ContinuousClock.now - recorded < .seconds(1))
                    reader.stop()
                }
            }
        }

        /// Two nodes' stores on one PostgreSQL database, migrated: what one writes, the other's streams must learn of.
        static func withTwoNodes(_ body: (_ writer: Database, _ reading: Database) async throws -> Void) async throws {
            let location = try await TestDatabase.makeLocation(.postgres)
            let writer = try await Database.open(location, logger: TestDatabase.logger)
            let reading = try await Database.open(location, logger: TestDatabase.logger)
            do {
                try await writer.migrate()
                try await body(writer, reading)
            } catch {
                await writer.close()
                await reading.close()
                throw error
            }
            await writer.close()
            await reading.close()
        }
    }
}

/// Reads a server-sent event stream as it arrives.
final class EventStreamReader: @unchecked Sendable {
    struct Message: Equatable {
        var id: String?
        var type: String?
        var data: String?
        var comment: String?

        var isPing: Bool { comment == "ping" }
        var sequence: Int { Int(id ?? "") ?? -1 }
        /// The event's `resource`, read from its data.
        var resource: String? {
            (try? JSONSerialization.jsonObject(with: Data((data ?? "").utf8)) as? [String: Any])?["resource"] as? String
        }
    }

    private var chunks: HTTPClientResponse.Body.AsyncIterator
    private var text = ""
    private var stopped = false

    init(_ body: HTTPClientResponse.Body) { chunks = body.makeAsyncIterator() }

    /// The next message, a comment included; nil when the stream has ended.
    func next() async throws -> Message? {
        while true {
            if let end = text.range(of: "\n\n") {
                let block = String(text[..<end.lowerBound])
                text = String(text[end.upperBound...])
                var message = Message()
                for line in block.split(separator: "\n") {
                    if line.hasPrefix(":") {
                        message.comment = line.dropFirst().trimmingCharacters(in: .whitespaces)
                    } else if line.hasPrefix("id: ") {
                        message.id = String(line.dropFirst(4))
                    } else if line.hasPrefix("event: ") {
                        message.type = String(line.dropFirst(7))
                    } else if line.hasPrefix("data: ") {
                        message.data = String(line.dropFirst(6))
                    }
                }
                if block.hasPrefix("retry:") { continue }
                return message
            }
            guard !stopped, let chunk = try await chunks.next() else { return nil }
            text += String(buffer: chunk)
        }
    }

    /// Whatever the body still holds, to its end.
    func remainder() async throws -> String {
        while let chunk = try await chunks.next() { text += String(buffer: chunk) }
        return text
    }

    /// The next `count` events, passing over pings.
    func events(_ count: Int) async throws -> [Message] {
        var events: [Message] = []
        while events.count < count, let message = try await next() {
            if message.type != nil { events.append(message) }
        }
        return events
    }

    /// Stops reading: the connection is dropped with the iterator.
    func stop() {
        stopped = true
        chunks = HTTPClientResponse.Body().makeAsyncIterator()
    }
}
