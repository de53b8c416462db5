import Store
import Synchronization

/// Which team a request acts for: the caller's, or, while authentication is off, one local team made
/// the first time it is needed. Everything a team owns is looked up through it, so that another team's
/// object is simply not found (404, never 403).
package final class TeamScope: Sendable {
    package let store: Database
    private let localTeam = Mutex<String?>(nil)

    package init(store: Database) { self.store = store }

    package func teamID(_ context: ConduitRequestContext) async throws -> String {
        if let team = context.identity?.teamID { return team }
        if let id = localTeam.withLock({ $0 }) { return id }
        let id = try await store.teams.ensure(named: "local").id
        localTeam.withLock { $0 = id }
        return id
    }
}
