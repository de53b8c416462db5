import ServiceLifecycle
import Store

/// Carries the presence board's notices between nodes on PostgreSQL (`PresenceNotices`): this node's
/// changes as they happen and all of its viewers every heartbeat, the other nodes' into the board. On
/// SQLite, one node, it does nothing.
struct PresenceExchange: Service {
    let board: PresenceBoard
    let store: Database
    let heartbeat: @Sendable () -> Duration

    func run() async throws {
        let notices = store.presenceNotices
        guard notices.isShared else {
            try? await gracefulShutdown()
            return
        }
        let outgoing = board.share(heartbeat: heartbeat)
        await withDiscardingTaskGroup { group in
            group.addTask { await notices.listen { board.heard($0) } }
            group.addTask {
                // A notice the store fails to send is lost; the next heartbeat's repeats it.
                for await notice in outgoing { try? await notices.send(notice) }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: heartbeat())
                    board.refresh()
                }
            }
            try? await gracefulShutdown()
            group.cancelAll()
        }
    }
}
