/// How the event log is kept and streamed (`events.*`).
public struct EventsConfiguration: Sendable, Equatable {
    /// Events older than this are deleted, with their webhook deliveries.
    public var retentionDays = 30
    /// How often a node looks for new events of the teams its streams watch. On PostgreSQL every commit
    /// also wakes the streams at once (LISTEN/NOTIFY); this is then only the fallback.
    public var pollInterval: Duration = .milliseconds(250)
    /// A stream that has sent nothing for this long sends a comment (`: ping`), so that proxies keep it
    /// open and clients can tell a quiet stream from a dead one.
    public var heartbeat: Duration = .seconds(15)
    /// Events held for a stream that has not taken them yet; past it the stream is told
    /// `resync_required` and closed, rather than hold memory for a client that cannot keep up.
    public var streamBuffer = 1000
    /// Open streams per API key (or user) and per team; the next is refused with 429.
    public var maxStreamsPerKey = 50
    public var maxStreamsPerTeam = 1000

    public init() {}
}
