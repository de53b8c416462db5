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
            if let keyID = identity?.keyID {
                return try await store.keys.find(id: keyID, teamID: teamID)?.isUsable(at: StoreTime.now()) ?? false
            }
            if let userID = identity?.userID { return try await store.users.find(id: userID) != nil }
            return true
        } catch {
            return true
        }
    }
}
