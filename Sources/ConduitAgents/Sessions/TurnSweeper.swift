import ConduitCore
import ServiceLifecycle
import Store

/// Settles what a stopped node left behind, every `interval`: a turn left running past the gateway's total
/// timeout is failed and a queued turn whose waiter is gone cancelled, each with its event, even in a session
/// nobody asks for another turn. At shutdown, this node's turns are cancelled and settled before the store closes.
struct TurnSweeper: Service {
    let store: Database
    let turns: TurnRunner
    var interval: Duration = .seconds(30)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await store.agentSessions.sweepAll(staleAfter: turns.staleAfter, abandoned: { AgentEvents.ended($0) })
                try? await Task.sleep(for: interval)
            }
        }
        await turns.cancelAll()
    }
}
