import ConduitCore

/// A kind of project, as its file declares it over its parent's (`extends:`), resolved: the variables of
/// its agents' prompts, which agents it offers and how (threshold, model, utterances), how its router
/// decides, its projects' lifecycle and the specifications they write. `resolved` is the merged
/// configuration and `provenance` the domain that set each of its values.
package struct Domain: Sendable, Equatable {
    /// What a domain changes of one agent.
    package struct AgentSettings: Sendable, Equatable {
        package var enabled = true
        package var threshold: Double?
        package var model: String?
        /// Laid over the agent's own parameters.
        package var parameters: [String: JSONValue] = [:]
        /// Replace the agent's utterances for this domain's router.
        package var utterances: [String]?
        /// Added after the agent's prompt.
        package var systemPromptAppend: String?
    }

    package struct RouterSettings: Sendable, Equatable {
        /// The similarity below which the router abstains, for an agent that sets none.
        package var threshold: Double
        /// A session's turn stays with the agent that answered the previous one while it asks for details.
        package var sticky: Bool
        /// Who takes a request the router abstains on; nobody (the caller must clarify) when nil.
        package var fallbackAgent: String?
        /// The share of an agent's score that the request's words carry (their TF-IDF likeness to the agent's
        /// utterances and description); the sentence embeddings carry the rest.
        package var lexicalWeight: Double
    }

    package let name: String
    package let title: String
    package let description: String
    /// The chain of domains it extends, nearest first.
    package let ancestors: [String]
    package let variables: [String: String]
    package let agents: [String: AgentSettings]
    package let router: RouterSettings
    package let lifecycle: Lifecycle
    package let specifications: [String: SpecificationTemplate]
    package let resolved: JSONValue
    package let provenance: [String: String]

    /// The keys of a domain's file.
    static let fileKeys: Set<String> = [
        "extends", "title", "description", "variables", "agents", "router", "lifecycle", "specifications", "merge",
    ]
    /// What every prompt may name beside the domain's variables.
    package static let builtInVariables: Set<String> = [
        "project.name", "project.description", "project.state", "domain.name", "domain.title",
    ]

    package func settings(of agent: String) -> AgentSettings { agents[agent] ?? AgentSettings() }
    package func offers(_ agent: String) -> Bool { settings(of: agent).enabled }

    /// Reads the resolved configuration; `agents` are the declared agents, which the domain's names must be.
    init(name: String, ancestors: [String], merge: DomainMerge, file: String, agents declared: [String: AgentDefinition]) throws {
        let reader = DeclarationReader(file: file, subject: "a domain")
        guard case .object(let root) = merge.value else { throw reader.problem("", "must be a mapping") }
        self.name = name
        self.ancestors = ancestors
        resolved = merge.value
        provenance = merge.provenance
        title = try root["title"].map { try reader.text($0, "title") } ?? name
        description = try root["description"].map { try reader.text($0, "description") } ?? ""
        variables =
            try root["variables"].map { value in
                try reader.object(value, "variables").reduce(into: [:]) { variables, entry in
                    variables[entry.key] = try reader.text(entry.value, "variables.\(entry.key)")
                }
            } ?? [:]
        var agents: [String: AgentSettings] = [:]
        let overrides = try root["agents"].map { try reader.object($0, "agents") } ?? [:]
        for (agent, value) in overrides {
            guard declared[agent] != nil else { throw reader.problem("agents.\(agent)", "names no agent of agents.dir") }
            agents[agent] = try Self.agentSettings(value, key: "agents.\(agent)", reader: reader)
        }
        self.agents = agents
        router = try Self.router(root["router"] ?? .object([:]), reader: reader)
        specifications = try Self.specifications(root["specifications"] ?? .object([:]), reader: reader)
        guard let lifecycle = root["lifecycle"] else { throw reader.problem("lifecycle", "is required (here or in a domain it extends)") }
        self.lifecycle = try Self.lifecycle(lifecycle, templates: specifications, reader: reader)
        if let fallback = router.fallbackAgent, declared[fallback] == nil || agents[fallback]?.enabled == false {
            throw reader.problem("router.fallback_agent", "names '\(fallback)', which is not an agent this domain offers")
        }
        let known = Self.builtInVariables.union(variables.keys)
        for agent in declared.values.sorted(by: { $0.name < $1.name }) where offers(agent.name) {
            if let missing = agent.promptVariables.first(where: { !known.contains($0) }) {
                throw reader.problem(
                    "variables", "lacks '\(missing)', which the prompt of the agent '\(agent.name)' names (or disable the agent here)")
            }
        }
    }

    private static func agentSettings(_ value: JSONValue, key: String, reader: DeclarationReader) throws -> AgentSettings {
        let object = try reader.object(value, key)
        try reader.only(["enabled", "threshold", "model", "parameters", "utterances", "system_prompt_append"], in: object, at: key)
        var settings = AgentSettings()
        if let enabled = object["enabled"] { settings.enabled = try reader.flag(enabled, "\(key).enabled") }
        settings.threshold = try object["threshold"].map { try reader.number($0, "\(key).threshold", -1...1) }
        settings.model = try object["model"].map { try reader.text($0, "\(key).model") }
        if let parameters = object["parameters"] {
            settings.parameters = try AgentDefinition.parameters(parameters, reader: reader, key: "\(key).parameters")
        }
        settings.utterances = try object["utterances"].map { value in
            let utterances = try reader.texts(value, "\(key).utterances")
            guard (1...AgentDefinition.maximumUtterances).contains(utterances.count) else {
                throw reader.problem("\(key).utterances", "takes 1 to \(AgentDefinition.maximumUtterances) example requests")
            }
            return utterances
        }
        settings.systemPromptAppend = try object["system_prompt_append"].map { try reader.text($0, "\(key).system_prompt_append") }
        return settings
    }

    private static func router(_ value: JSONValue, reader: DeclarationReader) throws -> RouterSettings {
        let object = try reader.object(value, "router")
        try reader.only(["threshold", "sticky", "fallback_agent", "lexical_weight"], in: object, at: "router")
        return RouterSettings(
            threshold: try object["threshold"].map { try reader.number($0, "router.threshold", -1...1) } ?? 0.2,
            sticky: try object["sticky"].map { try reader.flag($0, "router.sticky") } ?? true,
            fallbackAgent: try object["fallback_agent"].map { try reader.name($0, "router.fallback_agent") },
            lexicalWeight: try object["lexical_weight"].map { try reader.number($0, "router.lexical_weight", 0...1) } ?? 0.5)
    }

    private static func specifications(_ value: JSONValue, reader: DeclarationReader) throws -> [String: SpecificationTemplate] {
        try reader.object(value, "specifications").reduce(into: [:]) { templates, entry in
            let key = "specifications.\(entry.key)"
            guard DeclaredName.isValid(entry.key) else {
                throw reader.problem(key, "is not a name: 1 to 64 lowercase letters, digits, '_' or '-'")
            }
            let object = try reader.object(entry.value, key)
            try reader.only(["title", "sections"], in: object, at: key)
            guard case .array(let items)? = object["sections"], !items.isEmpty else {
                throw reader.problem("\(key).sections", "takes a list of {id, required}")
            }
            var seen: Set<String> = []
            let sections = try items.enumerated().map { index, item in
                let itemKey = "\(key).sections[\(index)]"
                let section = try reader.object(item, itemKey)
                try reader.only(["id", "required"], in: section, at: itemKey)
                guard let id = section["id"] else { throw reader.problem("\(itemKey).id", "is required") }
                let name = try reader.name(id, "\(itemKey).id")
                guard seen.insert(name).inserted else { throw reader.problem("\(itemKey).id", "repeats the section '\(name)'") }
                return SpecificationTemplate.Section(
                    id: name, required: try section["required"].map { try reader.flag($0, "\(itemKey).required") } ?? false)
            }
            templates[entry.key] = SpecificationTemplate(
                key: entry.key, title: try object["title"].map { try reader.text($0, "\(key).title") } ?? entry.key, sections: sections)
        }
    }

    private static func lifecycle(_ value: JSONValue, templates: [String: SpecificationTemplate], reader: DeclarationReader) throws
        -> Lifecycle
    {
        let object = try reader.object(value, "lifecycle")
        try reader.only(["initial", "states", "transitions"], in: object, at: "lifecycle")
        guard let statesValue = object["states"] else { throw reader.problem("lifecycle.states", "is required") }
        guard case .array(let stateItems) = statesValue, !stateItems.isEmpty else {
            throw reader.problem("lifecycle.states", "takes a list of state names")
        }
        let states = try stateItems.map { try reader.name($0, "lifecycle.states") }
        guard Set(states).count == states.count else { throw reader.problem("lifecycle.states", "names a state twice") }
        guard let initialValue = object["initial"] else { throw reader.problem("lifecycle.initial", "is required") }
        let initial = try reader.name(initialValue, "lifecycle.initial")
        guard states.contains(initial) else { throw reader.problem("lifecycle.initial", "'\(initial)' is not one of lifecycle.states") }
        guard case .array(let items)? = object["transitions"] else {
            throw reader.problem("lifecycle.transitions", "takes a list of {from, to, guards}")
        }
        var seen: Set<[String]> = []
        let transitions = try items.enumerated().map { index, item in
            let key = "lifecycle.transitions[\(index)]"
            let transition = try reader.object(item, key)
            try reader.only(["from", "to", "guards"], in: transition, at: key)
            guard let fromValue = transition["from"], let toValue = transition["to"] else { throw reader.problem(key, "takes from and to") }
            let from = try reader.name(fromValue, "\(key).from")
            let to = try reader.name(toValue, "\(key).to")
            for (end, state) in [("from", from), ("to", to)] where !states.contains(state) {
                throw reader.problem("\(key).\(end)", "'\(state)' is not one of lifecycle.states")
            }
            guard from != to else { throw reader.problem(key, "goes from '\(from)' to itself") }
            guard seen.insert([from, to]).inserted else { throw reader.problem(key, "repeats the move from '\(from)' to '\(to)'") }
            let guards = try (transition["guards"].map { try reader.texts($0, "\(key).guards") } ?? []).map { text in
                guard let parsed = Guard(text) else {
                    throw reader.problem("\(key).guards", "'\(text)' is not a guard: current_specification:KEY or reason_given")
                }
                if case .currentSpecification(let template) = parsed, templates[template] == nil {
                    throw reader.problem("\(key).guards", "'\(text)' names no template of specifications")
                }
                return parsed
            }
            return Lifecycle.Transition(from: from, to: to, guards: guards)
        }
        return Lifecycle(initial: initial, states: states, transitions: transitions)
    }
}
