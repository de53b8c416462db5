import ConduitCore
import Foundation
import Store
import Synchronization

/// The version number of each agent's declaration as this node reads it now. A declaration is recorded
/// (`store.agentVersions`) the first time it is asked for after a start or a reload changed it, so every
/// node reading the same files agrees on the numbers, and old versions stay readable for the sessions
/// that keep them.
package final class AgentVersions: Sendable {
    let store: Database
    /// Agent and content hash → version: a declaration's number never changes once recorded.
    private let known = Mutex<[String: Int64]>([:])

    package init(store: Database) { self.store = store }

    package func version(of agent: AgentDefinition) async throws -> Int64 {
        let key = agent.name + "\u{0}" + agent.contentHash
        if let version = known.withLock({ $0[key] }) { return version }
        let declaration = String(decoding: try JSONValue.object(agent.declaration).canonicalJSON(), as: UTF8.self)
        let recorded = try await store.agentVersions.record(agent: agent.name, contentHash: agent.contentHash, declaration: declaration)
        known.withLock { $0[key] = recorded.version }
        return recorded.version
    }
}
