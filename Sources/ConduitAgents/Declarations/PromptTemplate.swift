import Foundation

/// A system prompt with `{{variable}}` places, filled from the domain's variables and the project's
/// (`project.name`, `domain.title`…). The places are read once, at load, so that a domain can be refused
/// for a variable it does not give, rather than a turn sending a prompt with a hole in it.
struct PromptTemplate: Sendable, Equatable {
    enum Part: Sendable, Equatable {
        case text(String)
        case variable(String)
    }

    let source: String
    let parts: [Part]

    /// Refuses a `{{` that is not closed, or a place that names no variable.
    init(_ source: String) throws(TemplateError) {
        self.source = source
        var parts: [Part] = []
        var rest = Substring(source)
        while let open = rest.range(of: "{{") {
            if open.lowerBound > rest.startIndex { parts.append(.text(String(rest[..<open.lowerBound]))) }
            guard let close = rest[open.upperBound...].range(of: "}}") else { throw TemplateError("a '{{' is not closed by '}}'") }
            let name = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." || $0 == "-" }) else {
                throw TemplateError("'{{\(rest[open.upperBound..<close.lowerBound])}}' does not name a variable")
            }
            parts.append(.variable(name))
            rest = rest[close.upperBound...]
        }
        if !rest.isEmpty { parts.append(.text(String(rest))) }
        self.parts = parts
    }

    /// The variables it names, each once, in order.
    var variables: [String] {
        var seen: Set<String> = []
        return parts.compactMap { part in
            guard case .variable(let name) = part, seen.insert(name).inserted else { return nil }
            return name
        }
    }

    /// The prompt with every place filled; a variable `values` lacks is left empty (a domain is checked
    /// for them at load).
    func render(_ values: [String: String]) -> String {
        parts.map { part in
            switch part {
            case .text(let text): text
            case .variable(let name): values[name] ?? ""
            }
        }.joined()
    }
}

struct TemplateError: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}
