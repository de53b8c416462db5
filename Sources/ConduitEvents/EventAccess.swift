import ConduitCore
import Foundation
import HTTPTypes
import Store

/// What a caller may read of its team's event log: the types its scopes allow (a `jobs` key, the jobs'
/// events), narrowed to those it asks for and to one resource. The same for the history, the SSE stream
/// and each WebSocket subscription.
struct EventAccess: Sendable {
    /// Every event type, with the scope that may read it.
    let catalogue: [any EventPayload.Type]
    /// The caller's scopes; nil with authentication off (everything is readable).
    let scopes: Set<Scope>?

    /// The filter for `types` (every readable type when nil) and `resource`; 400 for an unknown type or a
    /// malformed resource, 403 for a type the caller's scopes do not reach.
    func filter(types asked: [String]?, resource: String?) throws -> EventFilter {
        let readable = catalogue.filter { scopes?.contains($0.scope) ?? true }.map { $0.type }
        var types = Set(readable)
        if let asked {
            types = []
            for type in asked.map({ $0.trimmingCharacters(in: .whitespaces) }) where !type.isEmpty {
                guard let known = catalogue.first(where: { $0.type == type }) else {
                    throw APIError.invalidRequest(
                        "no event type '\(type.bounded(toBytes: 64))'; the types are listed in docs/events.md", param: "types",
                        code: "invalid_value")
                }
                guard readable.contains(type) else {
                    throw APIError(
                        status: .forbidden, message: "reading '\(type)' events needs the '\(known.scope.rawValue)' scope",
                        type: "permission_error", param: "types", code: "insufficient_scope")
                }
                types.insert(type)
            }
        }
        if let resource, resource.isEmpty || resource.utf8.count > 200 {
            throw APIError.invalidRequest("resource must be 1 to 200 characters, as kind:id", param: "resource", code: "invalid_value")
        }
        return EventFilter(types: types, resource: resource)
    }

    /// Whether `identity`'s key (or user) may still read, as it could when its channel opened: a key revoked
    /// or expired, a user deleted, may not. A store that cannot answer does not end a channel.
    static func stillAllowed(_ identity: Identity?, teamID: String, store: Database) async -> Bool {
        do {
            // Asked all the stream's life, from its long-lived task.
            return try await inChildTask {
                if let keyID = identity?.keyID {
                    return try await store.keys.find(id: keyID, teamID: teamID)?.isUsable(at: StoreTime.now()) ?? false
                }
                if let userID = identity?.userID { return try await store.users.find(id: userID) != nil }
                return true
            }
        } catch {
            return true
        }
    }

    /// The caller as the store has it now (its scopes and limits as they are set now), for work a socket
    /// starts long after its handshake; nil when the key was revoked or expired, or the user deleted.
    /// The store failing, the handshake's identity stands, as `stillAllowed` lets the caller pass.
    static func refreshed(_ identity: Identity, store: Database) async -> Identity? {
        do {
            return try await inChildTask {
                if let keyID = identity.keyID {
                    guard let key = try await store.keys.find(id: keyID, teamID: identity.teamID), key.isUsable(at: StoreTime.now()),
                        let team = try await store.teams.find(id: identity.teamID)
                    else { return nil }
                    return Identity(key: key, teamLimits: team.limits)
                }
                if let userID = identity.userID {
                    return try await store.users.findWithTeamLimits(id: userID).map { Identity(user: $0.user, teamLimits: $0.teamLimits) }
                }
                return identity
            }
        } catch {
            return identity
        }
    }
}
