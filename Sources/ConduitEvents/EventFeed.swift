import ConduitCore
import Store

/// What a live channel sends from the client's place on, whatever it speaks (SSE, a WebSocket
/// subscription): `expired` when events after the place were deleted with age, the events since, page by
/// page from the log, then each new one the hub hands its subscription, none twice (what the backlog sent
/// comes again from the hub: the sequence tells). `after` is where the client stands.
struct EventFeed {
    enum Item {
        case expired(earliest: Int64)
        case event(StreamedEvent)
        /// The channel has been quiet for `events.heartbeat_seconds`.
        case heartbeat
        /// The client fell more than `events.stream_buffer` events behind: resume from `after`.
        case overflowed
        /// The subscription was closed (its client left, or the node is stopping).
        case closed
    }

    private enum Phase { case start, backlog, live }

    let subscription: EventSubscription
    private let store: Database
    private(set) var after: Int64
    private var phase = Phase.start
    private var ready: ArraySlice<StreamedEvent> = []

    init(_ subscription: EventSubscription, store: Database, after: Int64) {
        self.subscription = subscription
        self.store = store
        self.after = after
    }

    /// The next thing to send; throws `CancellationError` once the channel's task is cancelled.
    mutating func next() async throws -> Item {
        while true {
            try Task.checkCancellation()
            if let streamed = ready.popFirst() {
                after = streamed.event.sequence
                return .event(streamed)
            }
            switch phase {
            case .start:
                phase = .backlog
                let (store, teamID) = (store, subscription.teamID)
                if after > 0, let earliest = try await inChildTask({ try await store.events.earliestSequence(teamID: teamID) }),
                    earliest > after + 1
                {
                    return .expired(earliest: earliest)
                }
            case .backlog:
                let (store, teamID, after, filter) = (store, subscription.teamID, after, subscription.filter)
                let page = try await inChildTask {
                    try await store.events.list(teamID: teamID, after: after, filter: filter, limit: EventHub.page)
                }
                if page.count < EventHub.page { phase = .live }
                ready = page.map(StreamedEvent.init)[...]
            case .live:
                switch await subscription.next() {
                case .events(let events): ready = events.filter { $0.event.sequence > after }[...]
                case .heartbeat: return .heartbeat
                case .overflowed: return .overflowed
                case .closed: return .closed
                }
            }
        }
    }
}
