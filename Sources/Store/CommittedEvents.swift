import Synchronization

/// Tells this process's listeners which teams' events a SQLite transaction committed, once it has: on
/// SQLite, where there are no notifications, the live streams of the node that wrote an event wake at
/// its commit rather than at their next poll (another process writing to the same file is seen by
/// polling).
final class CommittedEvents: Sendable {
    /// The teams whose events the transaction running in this task records.
    final class Recorded: Sendable {
        let teams = Mutex<Set<String>>([])
    }

    @TaskLocal static var recording: Recorded?

    private let listeners = Mutex<(next: Int, all: [Int: @Sendable (String) -> Void])>((0, [:]))

    /// Notes, inside a transaction, that it records an event of `teamID`.
    static func note(_ teamID: String) {
        recording?.teams.withLock { _ = $0.insert(teamID) }
    }

    /// Runs `transaction` noting the teams whose events it records, and tells the listeners once it returns
    /// (committed).
    func announcing<Result>(_ transaction: () async throws -> Result) async throws -> Result {
        let recorded = Recorded()
        let result = try await Self.$recording.withValue(recorded) { try await transaction() }
        let teams = recorded.teams.withLock { $0 }
        guard !teams.isEmpty else { return result }
        let all = listeners.withLock { Array($0.all.values) }
        for teamID in teams { for listener in all { listener(teamID) } }
        return result
    }

    /// Calls `committed` with the team of each event committed in this process, until cancelled.
    func listen(_ committed: @escaping @Sendable (String) -> Void) async {
        let id = listeners.withLock { listeners in
            defer { listeners.next += 1 }
            listeners.all[listeners.next] = committed
            return listeners.next
        }
        // Waits for cancellation; there is nothing else to wait for.
        let (stream, continuation) = AsyncStream<Never>.makeStream()
        await withTaskCancellationHandler {
            for await _ in stream {}
        } onCancel: {
            continuation.finish()
        }
        listeners.withLock { _ = $0.all.removeValue(forKey: id) }
    }
}
