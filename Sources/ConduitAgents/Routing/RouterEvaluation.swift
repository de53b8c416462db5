import Foundation

/// A request and the agent it should go to: nil for one no agent should take (the router should abstain).
package struct LabelledInput: Sendable, Decodable, Equatable {
    package var input: String
    package var agent: String?
}

/// How a router does on labelled requests: the share it sends to the right agent (an abstention is right
/// for a request labelled with no agent), the share it abstains on, each agent's precision and recall,
/// and the confusion matrix (rows: the label; columns: the decision; `(none)` for no agent).
package struct RouterEvaluation: Sendable, Encodable, Equatable {
    package struct AgentFigures: Sendable, Encodable, Equatable {
        package var precision: Double
        package var recall: Double
        /// How many requests are labelled with it.
        package var support: Int
    }

    package struct Confusion: Sendable, Encodable, Equatable {
        package var labels: [String]
        package var matrix: [[Int]]
    }

    package var domain: String
    package var examples: Int
    package var accuracy: Double
    package var abstainRate: Double
    package var perAgent: [String: AgentFigures]
    package var confusion: Confusion
    /// The threshold each agent was measured with.
    package var thresholds: [String: Double]

    /// The name the matrix gives to no agent: not a name an agent can have.
    package static let none = "(none)"

    /// Measures decisions made from `scores` (each request's, best first) with `thresholds` by agent.
    init(domain: String, labels: [String?], scores: [[(agent: String, score: Double, threshold: Double)]], thresholds: [String: Double]) {
        let decisions: [String?] = scores.map { ranked in
            guard let best = ranked.first, best.score >= thresholds[best.agent, default: best.threshold] else { return nil }
            return best.agent
        }
        let agents = Set(scores.flatMap { $0.map(\.agent) }).union(labels.compactMap { $0 }).sorted()
        let names = agents + [Self.none]
        let index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        var matrix = [[Int]](repeating: [Int](repeating: 0, count: names.count), count: names.count)
        for (label, decision) in zip(labels, decisions) { matrix[index[label ?? Self.none]!][index[decision ?? Self.none]!] += 1 }
        let total = max(labels.count, 1)
        self.domain = domain
        examples = labels.count
        accuracy = Double(zip(labels, decisions).count { $0 == $1 }) / Double(total)
        abstainRate = Double(decisions.count { $0 == nil }) / Double(total)
        perAgent = Dictionary(
            uniqueKeysWithValues: agents.map { agent in
                let row = index[agent]!
                let right = matrix[row][row]
                let decided = matrix.reduce(0) { $0 + $1[row] }
                let labelled = matrix[row].reduce(0, +)
                return (
                    agent,
                    AgentFigures(
                        precision: decided == 0 ? 0 : Double(right) / Double(decided),
                        recall: labelled == 0 ? 0 : Double(right) / Double(labelled), support: labelled)
                )
            })
        confusion = Confusion(labels: names, matrix: matrix)
        self.thresholds = thresholds
    }
}

/// Thresholds fitted to labelled requests: for each agent, the one that makes the most of the requests it
/// is the best match for come out right (taken when labelled with it, abstained on when labelled with
/// none), the nearest to its present threshold among equals. Each agent's threshold decides only the
/// requests it ranks first for, so each is fitted on its own.
package struct RouterCalibration: Sendable, Encodable, Equatable {
    package var proposed: [String: Double]
    package var before: RouterEvaluation
    package var after: RouterEvaluation

    init(domain: String, labels: [String?], scores: [[(agent: String, score: Double, threshold: Double)]]) {
        let current = Dictionary(scores.flatMap { $0.map { ($0.agent, $0.threshold) } }) { first, _ in first }
        var proposed = current
        for (agent, threshold) in current {
            // The requests this agent ranks first for: (score, whether taking it is right, whether abstaining is).
            let cases = zip(labels, scores).compactMap { label, ranked -> (Double, Bool, Bool)? in
                guard let best = ranked.first, best.agent == agent else { return nil }
                return (best.score, label == agent, label == nil)
            }
            guard !cases.isEmpty else { continue }
            let points = Array(Set(cases.map(\.0))).sorted()
            var candidates = [points[0] - 0.001, points[points.count - 1] + 0.001]
            for (low, high) in zip(points, points.dropFirst()) { candidates.append((low + high) / 2) }
            func right(_ candidate: Double) -> Int {
                cases.count { score, takingIsRight, abstainingIsRight in score >= candidate ? takingIsRight : abstainingIsRight }
            }
            // Rounded to what a file would say, within what a file takes; the present threshold as it is, so
            // that the fit is never worse than it.
            let rounded = [threshold] + candidates.map { min(1, max(-1, ($0 * 1000).rounded() / 1000)) }
            proposed[agent] =
                rounded.max { a, b in
                    let (rightA, rightB) = (right(a), right(b))
                    return rightA != rightB ? rightA < rightB : abs(a - threshold) > abs(b - threshold)
                } ?? threshold
        }
        self.proposed = proposed
        before = RouterEvaluation(domain: domain, labels: labels, scores: scores, thresholds: current)
        after = RouterEvaluation(domain: domain, labels: labels, scores: scores, thresholds: proposed)
    }
}
