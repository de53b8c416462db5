import Foundation

/// What a new key may be: the rules the admin API and `conduit keys create` share, so that neither
/// accepts what the other refuses.
public enum APIKeyRules {
    /// A rule a requested key breaks; `field` is the request's name for what is wrong.
    public struct Violation: Error, Equatable, CustomStringConvertible {
        public let field: String
        public let description: String
    }

    public static let nameLength = 1...200
    public static let expiryDays = 1...36_500

    /// The name, trimmed.
    public static func name(_ name: String) throws(Violation) -> String {
        let trimmed = name.trimmingCharacters(in: .whitespaces)
        guard nameLength.contains(trimmed.count) else {
            throw Violation(field: "name", description: "name must be \(nameLength.lowerBound) to \(nameLength.upperBound) characters")
        }
        return trimmed
    }

    /// The scopes named (an empty list: a key with none); all but `admin` when nil.
    public static func scopes(_ names: [String]?) throws(Violation) -> Set<Scope> {
        guard let names else { return Scope.defaultScopes }
        var scopes: Set<Scope> = []
        for name in names {
            guard let scope = Scope(rawValue: name) else {
                throw Violation(
                    field: "scopes",
                    description: "unknown scope '\(name)'; scopes are \(Scope.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            scopes.insert(scope)
        }
        return scopes
    }

    /// When a key made `now` that lasts `days` expires; nil (never) without `days`.
    public static func expiry(inDays days: Int?, from now: Int64 = StoreTime.now()) throws(Violation) -> Int64? {
        guard let days else { return nil }
        guard expiryDays.contains(days) else {
            throw Violation(
                field: "expires_in_days", description: "expires_in_days must be \(expiryDays.lowerBound) to \(expiryDays.upperBound)")
        }
        return now + Int64(days) * StoreTime.day
    }
}
