import ConduitCore
import Foundation

/// The agents and domains a server offers: one agent per file of `agents.dir` (`architect.yaml` declares
/// `architect`), one domain per file of `agents.domains_dir`, each resolved over the domains it extends,
/// and the built-in `base` domain unless a file replaces it. Loaded at start and on every reload; a file
/// that does not read refuses the whole configuration (naming the file and key), and the running set stays.
package struct AgentLibrary: Sendable, Equatable {
    package private(set) var agents: [String: AgentDefinition]
    package private(set) var domains: [String: Domain]

    /// The domain a project gets when it names none.
    package static let defaultDomain = "base"

    package static var empty: AgentLibrary {
        // The built-in base reads: it is checked by the tests, and names no agent.
        (try? AgentLibrary(agents: [:], domainFiles: [:])) ?? AgentLibrary(agents: [:], domains: [:])
    }

    private init(agents: [String: AgentDefinition], domains: [String: Domain]) {
        self.agents = agents
        self.domains = domains
    }

    /// Resolves `domainFiles` (by domain name: the file's path and its keys) with the built-in base.
    init(agents: [String: AgentDefinition], domainFiles: [String: (file: String, keys: [String: JSONValue])]) throws {
        self.agents = agents
        var files = domainFiles
        if files[Self.defaultDomain] == nil {
            files[Self.defaultDomain] = (
                "the built-in base domain", try YAMLTree.mapping(of: Self.builtInBase, file: "the built-in base domain")
            )
        }
        var resolved: [String: Domain] = [:]
        for name in files.keys.sorted() { try Self.resolve(name, files: files, agents: agents, into: &resolved, visiting: []) }
        domains = resolved
    }

    /// Reads both folders (either may be nil).
    package static func load(agentsFolder: URL?, domainsFolder: URL?) throws -> AgentLibrary {
        var agents: [String: AgentDefinition] = [:]
        for (name, file, keys) in try declarations(in: agentsFolder, setting: "agents.dir", kind: "agent") {
            agents[name] = try AgentDefinition(name: name, declaration: keys, file: file)
        }
        var domains: [String: (file: String, keys: [String: JSONValue])] = [:]
        for (name, file, keys) in try declarations(in: domainsFolder, setting: "agents.domains_dir", kind: "domain") {
            domains[name] = (file, keys)
        }
        return try AgentLibrary(agents: agents, domainFiles: domains)
    }

    /// The `.yaml`, `.yml` and `.json` files of `folder`, each named by its file.
    private static func declarations(in folder: URL?, setting: String, kind: String) throws -> [(String, String, [String: JSONValue])] {
        guard let folder else { return [] }
        let files: [URL]
        do {
            files = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
                // Not hidden files: editors keep lock and swap files beside the one being edited.
                .filter { ["yaml", "yml", "json"].contains($0.pathExtension) && !$0.lastPathComponent.hasPrefix(".") }
                .sorted { $0.path < $1.path }
        } catch {
            throw ConfigurationError("\(setting): cannot read the folder \(folder.path): \(error.localizedDescription)")
        }
        var seen: Set<String> = []
        return try files.map { file in
            let name = file.deletingPathExtension().lastPathComponent
            guard DeclaredName.isValid(name) else {
                throw ConfigurationError(
                    "\(file.path): the file's name is the \(kind)'s name, and must be 1 to 64 lowercase letters, digits, '_' or '-'")
            }
            guard seen.insert(name).inserted else {
                throw ConfigurationError("\(file.path): another file of the folder already declares the \(kind) '\(name)'")
            }
            guard let data = FileManager.default.contents(atPath: file.path) else { throw ConfigurationError("cannot read \(file.path)") }
            return (name, file.path, try YAMLTree.mapping(of: String(decoding: data, as: UTF8.self), file: file.path))
        }
    }

    private static func resolve(
        _ name: String, files: [String: (file: String, keys: [String: JSONValue])], agents: [String: AgentDefinition],
        into resolved: inout [String: Domain], visiting: [String]
    ) throws {
        guard resolved[name] == nil, let (file, keys) = files[name] else { return }
        let reader = DeclarationReader(file: file, subject: "a domain")
        try reader.only(Domain.fileKeys, in: keys)
        if visiting.contains(name) {
            throw ConfigurationError("\(file): extends forms a cycle: \((visiting.drop { $0 != name } + [name]).joined(separator: " → "))")
        }
        var merge = DomainMerge()
        var ancestors: [String] = []
        if let extends = keys["extends"] {
            let parentName = try reader.name(extends, "extends")
            guard files[parentName] != nil else {
                throw reader.problem("extends", "names '\(parentName)', which no file of agents.domains_dir declares")
            }
            try resolve(parentName, files: files, agents: agents, into: &resolved, visiting: visiting + [name])
            guard let parent = resolved[parentName] else { throw reader.problem("extends", "names '\(parentName)', which did not resolve") }
            merge = DomainMerge(value: parent.resolved, provenance: parent.provenance)
            ancestors = [parentName] + parent.ancestors
        }
        var rules: [String: DomainMerge.Rule] = [:]
        if let value = keys["merge"] {
            for (pointer, rule) in try reader.object(value, "merge") {
                guard pointer.hasPrefix("/") else {
                    throw reader.problem("merge", "takes JSON pointers (/lifecycle/transitions) as keys, not '\(pointer)'")
                }
                guard case .string(let text) = rule, let parsed = DomainMerge.Rule(rawValue: text) else {
                    throw reader.problem("merge.\(pointer)", "takes replace, append or prepend")
                }
                // A misspelt pointer would otherwise silently replace the list it meant.
                guard case .array? = Self.value(at: pointer, in: .object(keys)) else {
                    throw reader.problem("merge.\(pointer)", "names no list of this file")
                }
                rules[pointer] = parsed
            }
        }
        merge.apply(keys.filter { $0.key != "extends" && $0.key != "merge" }, from: name, rules: rules)
        resolved[name] = try Domain(name: name, ancestors: ancestors, merge: merge, file: file, agents: agents)
    }

    /// The value at a JSON pointer (RFC 6901), if there is one.
    static func value(at pointer: String, in root: JSONValue) -> JSONValue? {
        var node: JSONValue? = root
        for token in pointer.split(separator: "/", omittingEmptySubsequences: false).dropFirst() {
            let key = token.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            switch node {
            case .object(let members)?: node = members[key]
            case .array(let items)?: node = Int(key).flatMap { items.indices.contains($0) ? items[$0] : nil }
            default: return nil
            }
        }
        return node
    }

    /// The domain every server has: the base lifecycle, a requirements template, every agent offered, and
    /// the variables the shipped agents' prompts name.
    static let builtInBase = """
        title: Base
        description: Any software project; the domain a project gets when it names none.
        variables: {platform: not decided yet, regulations: none in particular, audience: the product's users}
        router: {threshold: 0.2, sticky: true}
        lifecycle:
          initial: discovery
          states: [discovery, specification, planning, implementation, review, done]
          transitions:
            - {from: discovery, to: specification}
            - {from: specification, to: planning, guards: ["current_specification:requirements"]}
            - {from: planning, to: implementation, guards: ["current_specification:requirements"]}
            - {from: implementation, to: review}
            - {from: review, to: implementation, guards: [reason_given]}
            - {from: review, to: done, guards: ["current_specification:requirements"]}
        specifications:
          requirements:
            title: Requirements
            sections: [{id: overview, required: true}, {id: functional, required: true}, {id: non_functional, required: false}]
        """
}
