import Foundation
import Logging
import Store

/// The first administrator key, so that a server with authentication on can be administered at all.
package enum AdminBootstrap {
    package static let keyName = "bootstrap admin"
    package static let teamName = "default"

    /// With `given` (from `CONDUIT_AUTH_ADMIN_KEY` or a secret file), makes sure that key exists with every
    /// scope. Without it, creates one the first time only (when the store has never had an admin key)
    /// and returns its secret for the caller to show once; nil otherwise.
    package static func ensureAdminKey(in store: Database, logger: Logger, given: String?) async throws -> String? {
        let team = try await store.teams.ensure(named: teamName)
        if let given {
            if try await store.keys.find(secret: given) == nil {
                _ = try await store.keys.create(name: keyName, teamID: team.id, scopes: Set(Scope.allCases), secret: given)
                logger.notice("admin API key from the configuration stored (as a hash)")
            }
            return nil
        }
        guard try await !store.keys.list(teamID: nil).contains(where: { $0.scopes.contains(.admin) }) else { return nil }
        let issued = try await store.keys.create(name: keyName, teamID: team.id, scopes: Set(Scope.allCases))
        logger.notice("first admin API key created", metadata: ["key_id": "\(issued.key.id)", "prefix": "\(issued.key.prefix)"])
        return issued.secret
    }
}
