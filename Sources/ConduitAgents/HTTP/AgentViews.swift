import ConduitCore
import Foundation
import Store

/// An agent as `GET /v1/agents` lists it.
struct AgentSummary: Encodable, Sendable {
    var name: String
    var description: String
    var responsibilities: [String]
    var model: String
    /// Whether the gateway serves its model: a turn for an unavailable agent gets 503 `model_unavailable`.
    var available: Bool
    /// Its current version (the one a new session pins).
    var version: Int64
    var produces: [String]
    /// The domains that offer it.
    var domains: [String]
}

/// An agent with all it declares, as `GET /v1/agents/{name}` shows it.
struct AgentDetail: Encodable, Sendable {
    var name: String
    var description: String
    var responsibilities: [String]
    var model: String
    var available: Bool
    var version: Int64
    var contentHash: String
    var utterances: [String]
    var systemPrompt: String
    var parameters: [String: JSONValue]
    /// `text`, or the JSON schema its answers follow.
    var output: JSONValue
    var produces: [String]
    @Nullable var threshold: Double?
    var domains: [String]
}

/// One version of an agent.
struct AgentVersionView: Encodable, Sendable {
    var version: Int64
    var contentHash: String
    var createdAt: Int64
    /// The version the node reads now.
    var current: Bool
    /// The declaration as it was.
    var declaration: JSONValue

    init(_ version: AgentVersion, current: Bool) {
        self.version = version.version
        contentHash = version.contentHash
        createdAt = StoreTime.seconds(version.createdAt)
        self.current = current
        declaration = (try? JSONDecoder().decode(JSONValue.self, from: Data(version.declaration.utf8))) ?? .null
    }
}

/// A list of everything there is (agents, domains): one page.
struct CompleteList<Item: Encodable & Sendable>: Encodable, Sendable {
    var object = "list"
    var data: [Item]
    var hasMore = false
}

/// A domain as `GET /v1/domains` lists it, and (with its lifecycle, templates and, on request, its
/// resolved configuration and provenance) as `GET /v1/domains/{name}` shows it.
struct DomainView: Encodable, Sendable {
    struct Offered: Encodable, Sendable {
        var agent: String
        var threshold: Double
        var model: String
    }

    struct Transition: Encodable, Sendable {
        var from: String
        var to: String
        var guards: [String]
    }

    struct Lifecycle: Encodable, Sendable {
        var initial: String
        var states: [String]
        var transitions: [Transition]
    }

    struct Template: Encodable, Sendable {
        var title: String
        var sections: [String]
        var requiredSections: [String]
    }

    struct Router: Encodable, Sendable {
        var threshold: Double
        var sticky: Bool
        @Nullable var fallbackAgent: String?
        var lexicalWeight: Double
    }

    var name: String
    var title: String
    var description: String
    /// The domain it extends, nearest first.
    var extends: [String]
    var agents: [Offered]
    var router: Router
    var lifecycle: Lifecycle?
    var specifications: [String: Template]?
    var variables: [String: String]?
    var resolved: JSONValue?
    /// JSON pointer of each resolved value → the domain whose file set it.
    var provenance: [String: String]?

    init(_ domain: Domain, library: AgentLibrary, detailed: Bool, resolved withResolution: Bool) {
        name = domain.name
        title = domain.title
        description = domain.description
        extends = domain.ancestors
        agents = library.agents.values.filter { domain.offers($0.name) }.sorted { $0.name < $1.name }.map { agent in
            let settings = domain.settings(of: agent.name)
            return Offered(
                agent: agent.name, threshold: settings.threshold ?? agent.threshold ?? domain.router.threshold,
                model: settings.model ?? agent.model)
        }
        router = Router(
            threshold: domain.router.threshold, sticky: domain.router.sticky, fallbackAgent: domain.router.fallbackAgent,
            lexicalWeight: domain.router.lexicalWeight)
        guard detailed else { return }
        lifecycle = Lifecycle(
            initial: domain.lifecycle.initial, states: domain.lifecycle.states,
            transitions: domain.lifecycle.transitions.map { Transition(from: $0.from, to: $0.to, guards: $0.guards.map(\.description)) })
        specifications = domain.specifications.mapValues {
            Template(title: $0.title, sections: $0.sections.map(\.id), requiredSections: $0.requiredSections)
        }
        variables = domain.variables
        if withResolution {
            resolved = domain.resolved
            provenance = domain.provenance
        }
    }
}
