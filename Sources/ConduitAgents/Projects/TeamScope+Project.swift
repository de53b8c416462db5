import ConduitCore
import Hummingbird
import Store

extension TeamScope {
    /// The project the route's `{id}` names, if it is the caller's team's: another team's is not found (404).
    func project(_ context: ConduitRequestContext) async throws -> Project {
        let id = try context.parameters.require("id")
        guard let project = try await store.projects.find(id, teamID: try await teamID(context)) else {
            throw StoreError.notFound("project \(id)")
        }
        return project
    }
}
