import ConduitCore

extension EventsConfiguration {
    /// `events.*`: the event log's retention and its live streams.
    package static let settings: [Setting<EventsConfiguration>] = [
        .integer(
            "events.retention_days", 1...3650, reloadable: true, \.retentionDays,
            help: "events are deleted this long after they were recorded, with their webhook deliveries"),
        .seconds(
            "events.poll_interval_seconds", reloadable: true, \.pollInterval,
            help: "how often a node looks for new events for its streams (PostgreSQL also wakes them at each commit)"),
        .seconds(
            "events.heartbeat_seconds", reloadable: true, \.heartbeat, help: "a quiet stream sends ': ping' this often"),
        .integer(
            "events.stream_buffer", 10...1_000_000, reloadable: true, \.streamBuffer,
            help: "events held for a stream that has not taken them; past it the stream gets resync_required and is closed"),
        .integer(
            "events.max_streams_per_key", 1...1_000_000, reloadable: true, \.maxStreamsPerKey,
            help: "open streams an API key (or a user's login) may hold"),
        .integer("events.max_streams_per_team", 1...1_000_000, reloadable: true, \.maxStreamsPerTeam, help: "open streams a team may hold"),
    ]
}
