import ConduitCore
import ConduitEmbeddings
import Foundation
import Synchronization

/// Chooses the agent for a request, and says why: an agent named by the caller (`explicit`, or the input
/// starting `@agent`), else the agent whose utterances the input is most like (`semantic`) when that
/// likeness reaches the agent's threshold, else the domain's fallback agent with `needs_clarification`
/// (`fallback`; no agent when the domain names none). Utterances are embedded once per model and kept.
package final class AgentRouter: Sendable {
    let embedder: TextEmbedder
    private let tables = Mutex<[String: (key: TableKey, table: RouteTable)]>([:])

    package init(embedder: TextEmbedder) { self.embedder = embedder }

    /// What a domain's table is built from: a change to any of it (a reload) builds it again.
    private struct TableKey: Equatable {
        let model: String
        let agents: [String]
        let utterances: [[String]]
        /// Each agent's description and responsibilities, which its words are drawn from with its utterances.
        let descriptions: [[String]]
        let thresholds: [Double]
        let lexicalWeight: Double
    }

    /// The most alternatives a decision lists.
    static let alternatives = 3

    /// What the router knows of a session: the agent that answered its last turn, and that answer.
    package struct SessionFacts: Sendable {
        package var activeAgent: String?
        package var lastAnswer: String?
    }

    /// With `session`, a request stays with the agent that answered the session's last turn while it asks for
    /// details (its answer was a question), where the domain's router is sticky and no agent is named.
    package func route(
        _ input: String, agent named: String?, in domain: Domain, of library: AgentLibrary, tenant: String, session: SessionFacts? = nil
    ) async throws -> RouteDecision {
        let started = ContinuousClock.now
        let explicit = named ?? Self.mention(in: input)
        if explicit == nil, domain.router.sticky, let active = session?.activeAgent, domain.offers(active), library.agents[active] != nil,
            session?.lastAnswer?.trimmingCharacters(in: .whitespacesAndNewlines).hasSuffix("?") == true
        {
            return RouteDecision(
                domain: domain.name, agent: active, method: .sticky, confidence: 1, threshold: nil, alternatives: [],
                needsClarification: false,
                latencyMs: Self.milliseconds(since: started))
        }
        if let explicit {
            guard domain.offers(explicit), library.agents[explicit] != nil else {
                throw InvalidInput(
                    "the domain '\(domain.name)' offers no agent '\(explicit)'", param: named == nil ? "input" : "agent",
                    code: "unknown_agent")
            }
            return RouteDecision(
                domain: domain.name, agent: explicit, method: .explicit, confidence: 1, threshold: nil, alternatives: [],
                needsClarification: false, latencyMs: Self.milliseconds(since: started))
        }
        let served = try embedder.catalog.resolve(nil)
        let table = try await table(for: domain, of: library, served: served, tenant: tenant)
        let vector = try await embedder.embedInteractive([input], with: served, tenant: tenant)[0]
        return decide(table.scores(vector, text: input), in: domain, started: started)
    }

    /// The decision for a request's scores (best first).
    func decide(_ scores: [(agent: String, score: Double, threshold: Double)], in domain: Domain, started: ContinuousClock.Instant)
        -> RouteDecision
    {
        let alternatives = scores.prefix(Self.alternatives + 1).map { RouteDecision.Alternative(agent: $0.agent, score: $0.score) }
        guard let best = scores.first else {
            return RouteDecision(
                domain: domain.name, agent: domain.router.fallbackAgent, method: .fallback, confidence: 0, threshold: nil, alternatives: [],
                needsClarification: true, latencyMs: Self.milliseconds(since: started))
        }
        let chosen = best.score >= best.threshold
        return RouteDecision(
            domain: domain.name, agent: chosen ? best.agent : domain.router.fallbackAgent, method: chosen ? .semantic : .fallback,
            confidence: best.score, threshold: best.threshold,
            alternatives: Array(alternatives.dropFirst(chosen ? 1 : 0).prefix(Self.alternatives)),
            needsClarification: !chosen, latencyMs: Self.milliseconds(since: started))
    }

    /// Each input's scores, embedded in one batch: what evaluation and calibration measure.
    func scores(of inputs: [String], in domain: Domain, of library: AgentLibrary, tenant: String) async throws
        -> [[(agent: String, score: Double, threshold: Double)]]
    {
        let served = try embedder.catalog.resolve(nil)
        let table = try await table(for: domain, of: library, served: served, tenant: tenant)
        var scores: [[(agent: String, score: Double, threshold: Double)]] = []
        // In slices: one batch as large as an evaluation set would hold the model for seconds.
        for start in stride(from: 0, to: inputs.count, by: 64) {
            let slice = Array(inputs[start..<min(start + 64, inputs.count)])
            let vectors = try await embedder.embedInteractive(slice, with: served, tenant: tenant)
            for (text, vector) in zip(slice, vectors) { scores.append(table.scores(vector, text: text)) }
        }
        return scores
    }

    /// The domain's table, built on first use after a start or a reload (its utterances embedded at the
    /// priority of the request that waits for it).
    private func table(for domain: Domain, of library: AgentLibrary, served: ServedModel, tenant: String) async throws -> RouteTable {
        let offered = library.agents.values.filter { domain.offers($0.name) }.sorted { $0.name < $1.name }
        let key = TableKey(
            model: served.name, agents: offered.map(\.name),
            utterances: offered.map { domain.settings(of: $0.name).utterances ?? $0.utterances },
            descriptions: offered.map { [$0.description] + $0.responsibilities },
            thresholds: offered.map { domain.settings(of: $0.name).threshold ?? $0.threshold ?? domain.router.threshold },
            lexicalWeight: domain.router.lexicalWeight)
        if let known = tables.withLock({ $0[domain.name] }), known.key == key { return known.table }
        var entries: [RouteTable.Entry] = []
        for (index, agent) in key.agents.enumerated() {
            let vectors = try await embedder.embedCached(key.utterances[index], with: served, waitingTenant: tenant)
            entries.append(RouteTable.Entry(agent: agent, threshold: key.thresholds[index], vectors: vectors))
        }
        let table = RouteTable(
            entries: entries, words: LexicalIndex(documents: zip(key.utterances, key.descriptions).map { $0 + $1 }),
            lexicalWeight: key.lexicalWeight)
        tables.withLock { $0[domain.name] = (key, table) }
        return table
    }

    /// `@architect …` names the agent.
    static func mention(in input: String) -> String? {
        let trimmed = input.drop { $0.isWhitespace }
        guard trimmed.first == "@" else { return nil }
        let name = trimmed.dropFirst().prefix { !$0.isWhitespace && $0 != ":" && $0 != "," }
        return name.isEmpty ? nil : String(name)
    }

    private static func milliseconds(since start: ContinuousClock.Instant) -> Double { (ContinuousClock.now - start) / .milliseconds(1) }
}

/// Why a request goes to an agent.
package struct RouteDecision: Sendable, Encodable {
    package enum Method: String, Sendable, Encodable {
        case explicit, sticky, semantic, fallback
    }

    package struct Alternative: Sendable, Encodable {
        package let agent: String
        package let score: Double
    }

    package var domain: String
    /// Nil when the router abstains and the domain has no fallback agent.
    @Nullable package var agent: String?
    /// The agent's version, once recorded.
    @Nullable package var version: Int64? = nil
    package var method: Method
    /// The chosen (or best) agent's similarity to the request; 1 when named.
    package var confidence: Double
    /// The similarity the best agent needed.
    @Nullable package var threshold: Double?
    /// The next best agents and their scores.
    package var alternatives: [Alternative]
    /// The router abstained: the request should be made clearer (or go to the fallback agent, which should ask).
    package var needsClarification: Bool
    package var latencyMs: Double

    init(
        domain: String, agent: String?, method: Method, confidence: Double, threshold: Double?, alternatives: [Alternative],
        needsClarification: Bool, latencyMs: Double
    ) {
        self.domain = domain
        self.agent = agent
        self.method = method
        self.confidence = confidence
        self.threshold = threshold
        self.alternatives = alternatives
        self.needsClarification = needsClarification
        self.latencyMs = latencyMs
    }
}
