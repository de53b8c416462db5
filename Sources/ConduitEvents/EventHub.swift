import ConduitCore
import HTTPTypes
import Logging
import ServiceLifecycle
import Store
import Synchronization

/// The node's one reader of the event log for its live streams: for each team that some stream
/// watches it keeps the number of the last event it read, reads what follows when the team has news,
/// and hands it to the team's streams. So a thousand streams of one team cost one query per batch of
/// events, not a thousand.
///
/// News comes at each commit (`EventsRepository.watch`: PostgreSQL's notifications reach every node,
/// SQLite's commits this process), and, for what those miss (another process writing to the SQLite
/// file, a notification lost with its connection), from looking at the teams' latest numbers every
/// `events.poll_interval_seconds`.
package final class EventHub: Service, Sendable {
    private let store: Database
    private let settings: Live<EventsConfiguration>
    private let logger: Logger

    private struct Watch {
        /// The number of the last event read for the team's streams.
        var cursor: Int64
        var streams: [ObjectIdentifier: EventSubscription] = [:]
    }

    private struct State {
        var teams: [String: Watch] = [:]
        /// Open streams by key or user (`Identity.holder`), held to `events.max_streams_per_key`.
        var streamsPerHolder: [String: Int] = [:]
        /// Teams a notification said have news.
        var notified: Set<String> = []
        /// The poll interval passed before the loop began to wait.
        var due = false
        var wake: CheckedContinuation<Void, Never>?
        var stopped = false
    }

    private let state = Mutex(State())

    package init(store: Database, settings: Live<EventsConfiguration>, logger: Logger) {
        self.store = store
        self.settings = settings
        self.logger = logger
    }

    /// A stream for `teamID`'s events that `filter` admits, counted against the key's and the team's
    /// open streams (429 past either). Events recorded from now on reach it; what came before, the
    /// stream reads from the store itself (`EventsRepository.list`), after subscribing, so that nothing
    /// falls between the two.
    package func subscribe(teamID: String, holder: String?, filter: EventFilter) async throws -> EventSubscription {
        let limits = settings.current
        let subscription = EventSubscription(teamID: teamID, holder: holder, filter: filter)
        // A team not watched yet starts at its latest number, read before the stream is counted in: what is
        // committed after it is the hub's to deliver. A watched team's cursor is that already, so it is read
        // only when the team is not (again, should its last stream have gone meanwhile).
        var latest: Int64?
        while try !register(subscription, latest: latest, limits: limits) {
            latest = try await store.events.latestSequences(of: [teamID])[teamID] ?? 0
        }
        return subscription
    }

    /// Counts `subscription` in; false, counting nothing, when its team is not watched and `latest` is not known.
    private func register(_ subscription: EventSubscription, latest: Int64?, limits: EventsConfiguration) throws -> Bool {
        let (teamID, holder) = (subscription.teamID, subscription.holder)
        return try state.withLock { state in
            guard !state.stopped else {
                throw APIError(status: .serviceUnavailable, message: "the node is stopping", type: "server_error", code: "shutting_down")
            }
            try Self.ensureRoom(in: state, teamID: teamID, holder: holder, limits: limits)
            guard let cursor = state.teams[teamID]?.cursor ?? latest else { return false }
            state.teams[teamID, default: Watch(cursor: cursor)].streams[ObjectIdentifier(subscription)] = subscription
            if let holder { state.streamsPerHolder[holder, default: 0] += 1 }
            return true
        }
    }

    private static func ensureRoom(in state: State, teamID: String, holder: String?, limits: EventsConfiguration) throws {
        if (state.teams[teamID]?.streams.count ?? 0) >= limits.maxStreamsPerTeam {
            throw tooMany("the team has \(limits.maxStreamsPerTeam) open event streams (events.max_streams_per_team)")
        }
        if let holder, state.streamsPerHolder[holder, default: 0] >= limits.maxStreamsPerKey {
            throw tooMany("this key has \(limits.maxStreamsPerKey) open event streams (events.max_streams_per_key)")
        }
    }

    package func unsubscribe(_ subscription: EventSubscription) {
        subscription.close()
        state.withLock { state in
            let teamID = subscription.teamID
            guard state.teams[teamID]?.streams.removeValue(forKey: ObjectIdentifier(subscription)) != nil else { return }
            if state.teams[teamID]?.streams.isEmpty == true { state.teams[teamID] = nil }
            if let holder = subscription.holder {
                state.streamsPerHolder[holder, default: 1] -= 1
                if state.streamsPerHolder[holder] == 0 { state.streamsPerHolder[holder] = nil }
            }
        }
    }

    /// How long a stream may be quiet before it pings; a WebSocket checks its caller's access as often.
    package var heartbeat: Duration { settings.current.heartbeat }

    /// Open streams, for the metrics and tests.
    package var openStreams: Int { state.withLock { $0.teams.values.reduce(0) { $0 + $1.streams.count } } }

    package func run() async throws {
        try await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await withDiscardingTaskGroup { group in
                    group.addTask { await self.store.events.watch { teamID in self.notify(teamID) } }
                    await self.deliverUntilStopped()
                    group.cancelAll()
                }
            } onCancel: {
                self.stop()
            }
        } onGracefulShutdown: {
            self.stop()
        }
    }

    private func notify(_ teamID: String) {
        let wake = state.withLock { state in
            guard state.teams[teamID] != nil else { return CheckedContinuation<Void, Never>?.none }
            state.notified.insert(teamID)
            defer { state.wake = nil }
            return state.wake
        }
        wake?.resume()
    }

    private func stop() {
        let (streams, wake) = state.withLock { state in
            state.stopped = true
            defer { state.wake = nil }
            return (state.teams.values.flatMap { $0.streams.values }, state.wake)
        }
        for stream in streams { stream.close() }
        wake?.resume()
    }

    private func deliverUntilStopped() async {
        var lastPoll = ContinuousClock.now
        while !state.withLock({ $0.stopped }) {
            let configuration = settings.current
            let polls = ContinuousClock.now - lastPoll >= configuration.pollInterval
            if polls { lastPoll = .now }
            do {
                try await deliver(polling: polls, capacity: configuration.streamBuffer)
            } catch {
                logger.warning("reading new events for the live streams failed", metadata: ["error": "\(error)"])
            }
            let quietSince = ContinuousClock.now - configuration.heartbeat
            for stream in state.withLock({ $0.teams.values.flatMap { $0.streams.values } }) { stream.heartbeatIfQuiet(since: quietSince) }
            // Awake often enough for the pings too, whatever the poll interval.
            await sleep(upTo: min(configuration.pollInterval, configuration.heartbeat / 2))
        }
    }

    /// Reads what follows each cursor for the teams with news (all watched teams when `polling`) and
    /// hands it to their streams.
    private func deliver(polling: Bool, capacity: Int) async throws {
        let (watched, notified) = state.withLock { state in
            defer { state.notified = [] }
            return (state.teams.mapValues(\.cursor), state.notified)
        }
        guard !watched.isEmpty else { return }
        var behind = notified.filter { watched[$0] != nil }
        if polling {
            let latest = try await store.events.latestSequences(of: Array(watched.keys))
            behind.formUnion(latest.filter { teamID, sequence in sequence > watched[teamID] ?? sequence }.keys)
        }
        for teamID in behind {
            guard var cursor = watched[teamID] else { continue }
            while true {
                let events = try await store.events.list(teamID: teamID, after: cursor, limit: Self.page)
                guard let last = events.last else { break }
                cursor = last.sequence
                let streams = state.withLock { state -> [EventSubscription] in
                    guard let watch = state.teams[teamID] else { return [] }
                    state.teams[teamID]?.cursor = max(watch.cursor, cursor)
                    return Array(watch.streams.values)
                }
                let streamed = events.map(StreamedEvent.init)
                for stream in streams { stream.offer(streamed, capacity: capacity) }
                if events.count < Self.page { break }
            }
        }
    }

    /// Waits for a notification, or `interval`.
    private func sleep(upTo interval: Duration) async {
        let waker = Task {
            // Cancelled: the wait ended otherwise, and this must not end the next one.
            do { try await Task.sleep(for: interval) } catch { return }
            let wake = self.state.withLock { state in
                defer { state.wake = nil }
                if state.wake == nil { state.due = true }
                return state.wake
            }
            wake?.resume()
        }
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                if !state.notified.isEmpty || state.stopped || state.due {
                    state.due = false
                    return true
                }
                state.wake = continuation
                return false
            }
            if now { continuation.resume() }
        }
        waker.cancel()
    }

    static let page = 500

    private static func tooMany(_ message: String) -> APIError {
        APIError(status: .tooManyRequests, message: message, type: "rate_limit_error", code: "too_many_streams")
    }
}
