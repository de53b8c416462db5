import Foundation
import Yams

/// Reads the YAML files a feature declares its definitions in (pipelines, chat models), with errors that
/// name the file, the dotted key and what it takes.
package struct YAMLReader {
    package let file: String
    /// What one mapping of the file declares, for the error on an unknown key: "a pipeline".
    package let subject: String

    package init(file: String, subject: String) {
        self.file = file
        self.subject = subject
    }

    /// The file's root node, or an error naming the file.
    package static func root(of yaml: String, file: String) throws -> Node? {
        do {
            return try Yams.compose(yaml: yaml)
        } catch {
            throw ConfigurationError("\(file) is not valid YAML: \(error)")
        }
    }

    package func problem(_ key: String, _ what: String) -> ConfigurationError { ConfigurationError("\(file): \(key) \(what)") }

    /// Calls `body` with each entry's dotted key; `body` returns false for a key it does not know.
    package func each(_ mapping: Node.Mapping, section: String, _ body: (String, Node) throws -> Bool) throws {
        for (name, node) in mapping {
            let key = section.isEmpty ? (name.string ?? "\(name)") : "\(section).\(name.string ?? "\(name)")"
            guard try body(key, node) else { throw ConfigurationError("\(file): '\(key)' is not a key of \(subject)") }
        }
    }

    package func section(_ node: Node, _ key: String) throws -> Node.Mapping {
        guard let mapping = node.mapping else { throw problem(key, "is a section: it takes keys") }
        return mapping
    }

    package func text(_ node: Node, _ key: String) throws -> String {
        guard let text = node.scalar?.string, !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw problem(key, "takes a non-empty text")
        }
        return text
    }

    package func integer(_ node: Node, _ key: String, _ range: ClosedRange<Int>) throws -> Int {
        guard let value = node.scalar.flatMap({ Int($0.string) }), range.contains(value) else {
            throw problem(key, "takes an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    package func number(_ node: Node, _ key: String, _ range: ClosedRange<Double>) throws -> Double {
        guard let value = node.scalar.flatMap({ Double($0.string) }), value.isFinite, range.contains(value) else {
            throw problem(key, "takes a number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    package func flag(_ node: Node, _ key: String) throws -> Bool {
        guard let value = node.bool else { throw problem(key, "takes true or false") }
        return value
    }

    package func list(_ node: Node, _ key: String) throws -> [String] {
        guard let sequence = node.sequence else { throw problem(key, "takes a list") }
        return try sequence.map { try text($0, key) }
    }
}
