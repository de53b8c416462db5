import ConduitCore
import Yams

/// A declaration file (an agent, a domain) read into plain JSON values, so that domains can be merged
/// key by key before anything is typed, and any file may be written as YAML or as JSON (which YAML reads).
enum YAMLTree {
    /// The file's root mapping; errors name the file.
    static func mapping(of text: String, file: String) throws -> [String: JSONValue] {
        guard let root = try YAMLReader.root(of: text, file: file), case .object(let mapping) = try value(of: root, file: file, at: "")
        else { throw ConfigurationError("\(file) must be a mapping of keys to values") }
        return mapping
    }

    /// A scalar is what its YAML tag says: a quoted `"true"` stays text, a plain `true` is a flag.
    private static func value(of node: Node, file: String, at key: String) throws -> JSONValue {
        switch node {
        case .scalar(let scalar):
            switch Tag.Name(rawValue: node.tag.rawValue) {
            case .null: return .null
            case .bool: return node.bool.map(JSONValue.bool) ?? .string(scalar.string)
            case .int: return node.int.map { .integer(Int64($0)) } ?? .string(scalar.string)
            case .float:
                guard let number = node.float else { return .string(scalar.string) }
                guard number.isFinite else { throw ConfigurationError("\(file): \(key) is not a finite number") }
                return .number(number)
            default: return .string(scalar.string)
            }
        case .sequence(let sequence):
            return .array(try sequence.enumerated().map { index, item in try value(of: item, file: file, at: "\(key)[\(index)]") })
        case .mapping(let mapping):
            var object: [String: JSONValue] = [:]
            for (name, item) in mapping {
                guard let name = name.scalar?.string else {
                    throw ConfigurationError("\(file): the keys of \(key.isEmpty ? "the file" : key) must be text")
                }
                let path = key.isEmpty ? name : "\(key).\(name)"
                guard object[name] == nil else { throw ConfigurationError("\(file): '\(path)' is declared twice") }
                object[name] = try value(of: item, file: file, at: path)
            }
            return .object(object)
        case .alias:
            throw ConfigurationError("\(file): \(key.isEmpty ? "the file" : key) uses a YAML alias; write the value out")
        }
    }
}
