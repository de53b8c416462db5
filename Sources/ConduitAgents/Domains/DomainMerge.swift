import ConduitCore
import Foundation

/// How a domain's file is laid over its parent's resolved configuration: mappings merge key by key, and
/// any other value (a list included) replaces the parent's, unless the file's `merge:` names the list's
/// JSON pointer with `append` or `prepend`. Every value set is recorded with the domain that set it (its
/// provenance), by JSON pointer, so that `GET /v1/domains/{name}?resolved=true` can say where each came from.
struct DomainMerge {
    enum Rule: String, Sendable {
        case replace, append, prepend
    }

    /// The resolved configuration so far, and for each value's pointer the domain that set it.
    private(set) var value: JSONValue = .object([:])
    private(set) var provenance: [String: String] = [:]

    init() {}

    /// Goes on from a parent's resolved configuration.
    init(value: JSONValue, provenance: [String: String]) {
        self.value = value
        self.provenance = provenance
    }

    /// Lays `layer` (a domain file's keys, less `extends` and `merge`) over what is resolved so far.
    mutating func apply(_ layer: [String: JSONValue], from domain: String, rules: [String: Rule]) {
        value = merged(value, .object(layer), at: "", from: domain, rules: rules)
    }

    private mutating func merged(_ base: JSONValue?, _ over: JSONValue, at pointer: String, from domain: String, rules: [String: Rule])
        -> JSONValue
    {
        // An empty list or mapping was recorded as a value of its own; once it holds values, they are.
        if Self.isEmptyContainer(base), !Self.isEmptyContainer(over) { provenance[pointer] = nil }
        switch (base, over, rules[pointer]) {
        case (.object(var result)?, .object(let layer), _):
            for (key, item) in layer.sorted(by: { $0.key < $1.key }) {
                result[key] = merged(result[key], item, at: pointer + "/" + Self.escape(key), from: domain, rules: rules)
            }
            return .object(result)
        case (.array(let list)?, .array(let added), .append?):
            for (offset, item) in added.enumerated() { record(item, at: "\(pointer)/\(list.count + offset)", from: domain) }
            return .array(list + added)
        case (.array(let list)?, .array(let added), .prepend?):
            // The parent's items move along: their pointers are renumbered with them.
            let moved = provenance.filter { Self.isWithin($0.key, pointer) && $0.key != pointer }
            for key in moved.keys { provenance[key] = nil }
            for (key, source) in moved { provenance[Self.shifted(key, under: pointer, by: added.count)] = source }
            for (offset, item) in added.enumerated() { record(item, at: "\(pointer)/\(offset)", from: domain) }
            return .array(added + list)
        default:
            for key in provenance.keys where Self.isWithin(key, pointer) { provenance[key] = nil }
            record(over, at: pointer, from: domain)
            return over
        }
    }

    /// Notes `domain` as the source of every value in `value` (each scalar; an empty list or mapping itself).
    private mutating func record(_ value: JSONValue, at pointer: String, from domain: String) {
        switch value {
        case .object(let members) where !members.isEmpty:
            for (key, member) in members { record(member, at: pointer + "/" + Self.escape(key), from: domain) }
        case .array(let items) where !items.isEmpty:
            for (index, item) in items.enumerated() { record(item, at: "\(pointer)/\(index)", from: domain) }
        default:
            provenance[pointer] = domain
        }
    }

    private static func isEmptyContainer(_ value: JSONValue?) -> Bool {
        switch value {
        case .object(let members)?: members.isEmpty
        case .array(let items)?: items.isEmpty
        default: false
        }
    }

    private static func isWithin(_ key: String, _ pointer: String) -> Bool { key == pointer || key.hasPrefix(pointer + "/") }

    private static func shifted(_ key: String, under pointer: String, by offset: Int) -> String {
        let rest = key.dropFirst(pointer.count + 1)
        let index = rest.prefix { $0 != "/" }
        return "\(pointer)/\((Int(index) ?? 0) + offset)\(rest.dropFirst(index.count))"
    }

    /// RFC 6901: `~` and `/` in a key are written `~0` and `~1`.
    static func escape(_ key: String) -> String {
        key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }
}
