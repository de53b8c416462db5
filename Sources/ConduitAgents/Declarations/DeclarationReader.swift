import ConduitCore

/// Reads the values of a declaration file (`YAMLTree`) into types, with errors that name the file, the
/// dotted key and what the key takes, as every other file Conduit reads does.
struct DeclarationReader {
    let file: String
    /// What the file declares, for the error on an unknown key: "an agent".
    let subject: String

    func problem(_ key: String, _ what: String) -> ConfigurationError { ConfigurationError("\(file): \(key) \(what)") }

    /// Refuses a key of `object` outside `known`: a misspelt key would otherwise be silently ignored.
    func only(_ known: Set<String>, in object: [String: JSONValue], at section: String = "") throws {
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw ConfigurationError("\(file): '\(Self.path(section, unknown))' is not a key of \(subject)")
        }
    }

    static func path(_ section: String, _ key: String) -> String { section.isEmpty ? key : "\(section).\(key)" }

    func object(_ value: JSONValue, _ key: String) throws -> [String: JSONValue] {
        guard case .object(let object) = value else { throw problem(key, "is a section: it takes keys") }
        return object
    }

    func text(_ value: JSONValue, _ key: String) throws -> String {
        guard case .string(let text) = value, !text.allSatisfy(\.isWhitespace) else { throw problem(key, "takes a non-empty text") }
        return text
    }

    func texts(_ value: JSONValue, _ key: String) throws -> [String] {
        guard case .array(let items) = value else { throw problem(key, "takes a list of texts") }
        return try items.map { try text($0, key) }
    }

    func number(_ value: JSONValue, _ key: String, _ range: ClosedRange<Double>) throws -> Double {
        let number: Double? =
            switch value {
            case .integer(let integer): Double(integer)
            case .number(let number): number
            default: nil
            }
        guard let number, number.isFinite, range.contains(number) else {
            throw problem(key, "takes a number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    func integer(_ value: JSONValue, _ key: String, _ range: ClosedRange<Int>) throws -> Int {
        guard case .integer(let integer) = value, range.contains(Int(integer)) else {
            throw problem(key, "takes an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return Int(integer)
    }

    func flag(_ value: JSONValue, _ key: String) throws -> Bool {
        guard case .bool(let flag) = value else { throw problem(key, "takes true or false") }
        return flag
    }

    /// A name of something declared elsewhere (an agent, a state): 1 to 64 lowercase letters, digits, '_' or '-'.
    func name(_ value: JSONValue, _ key: String) throws -> String {
        let name = try text(value, key)
        guard DeclaredName.isValid(name) else { throw problem(key, "takes a name of 1 to 64 lowercase letters, digits, '_' or '-'") }
        return name
    }
}

/// The names of agents, domains, states and specification templates: what a file name or a URL path may hold.
enum DeclaredName {
    static func isValid(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count)
            && name.utf8.allSatisfy {
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                    || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
            }
    }
}
