/// Chooses the deployment of a model that an attempt goes to.
struct DeploymentPicker {
    let states: DeploymentStates
    let cooldown: Duration
    let now: ContinuousClock.Instant
    /// Draws a number in 0..<upper: weighted routing's dice (tests pass a fixed one).
    var random: (Int) -> Int = { Int.random(in: 0..<$0) }

    enum Outcome {
        /// `isTrial`: the attempt is its circuit's half-open trial.
        case deployment(GatewayDeployment, DeploymentState, isTrial: Bool)
        /// None can be called now: every one whose window fits is open, resting after a `Retry-After`, full,
        /// or refused this call. `retryAfter` is the soonest an open or resting one may be called again.
        case noneAvailable(retryAfter: Duration?)
        /// The request is longer than every deployment's context window.
        case tooLong
    }

    /// A deployment of `model` with room for `tokens` tokens, none of `excluded`, preferring those not in
    /// `failed` (the ones this call already tried); its circuit has admitted the attempt, and it counts
    /// the call in flight until `leave`.
    func pick(_ model: GatewayModel, tokens: Int, failed: Set<String>, excluded: Set<String>) -> Outcome {
        let fitting = model.deployments.filter { ($0.contextWindow ?? .max) >= tokens }
        guard !fitting.isEmpty else { return .tooLong }
        let usable = fitting.filter { !excluded.contains($0.id) }.map { ($0, states.state(of: $0)) }
        var candidates = usable.filter { $0.1.breaker.timeUntilTrial(cooldown: cooldown) == nil && $0.1.rest(at: now) == nil }
        let untried = candidates.filter { !failed.contains($0.0.id) }
        if !untried.isEmpty { candidates = untried }
        while !candidates.isEmpty {
            let index = choose(among: candidates, routing: model.routing)
            let (deployment, state) = candidates.remove(at: index)
            // Another call may have taken the half-open trial or the last free slot since the filter.
            guard state.enter(limit: deployment.maxConcurrent) else { continue }
            guard case .admitted(let isTrial) = state.breaker.admit(cooldown: cooldown) else {
                state.leave()
                continue
            }
            return .deployment(deployment, state, isTrial: isTrial)
        }
        let waits = usable.compactMap { _, state in
            [state.breaker.timeUntilTrial(cooldown: cooldown), state.rest(at: now)].compactMap { $0 }.max()
        }
        return .noneAvailable(retryAfter: waits.min())
    }

    private func choose(among candidates: [(GatewayDeployment, DeploymentState)], routing: GatewayModel.Routing) -> Int {
        switch routing {
        case .weighted:
            var roll = random(candidates.reduce(0) { $0 + $1.0.weight })
            for (index, candidate) in candidates.enumerated() {
                roll -= candidate.0.weight
                if roll < 0 { return index }
            }
            return candidates.count - 1
        case .leastOutstanding:
            return candidates.indices.min { a, b in
                let (left, right) = (candidates[a], candidates[b])
                return (left.1.outstanding, -left.0.weight) < (right.1.outstanding, -right.0.weight)
            }!
        case .lowestLatency:
            // Unmeasured first (-1), so that every deployment gets measured.
            return candidates.indices.min { (candidates[$0].1.latency ?? -1) < (candidates[$1].1.latency ?? -1) }!
        }
    }
}
