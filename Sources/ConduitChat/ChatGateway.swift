import ConduitCore
import CoreMetrics
import Foundation
import HTTPTypes
import Tracing

/// Sends a chat call to a deployment of its model, and on failure to others and to the model's
/// fallbacks: retries with backoff for connect errors, timeouts, 408, 429 and 5xx, within the retry
/// budget and the call's total time; deployments whose circuit is open, that asked to wait, that are full
/// or whose context window is too small are skipped.
package final class ChatGateway: Sendable {
    package let configuration: Live<ChatConfiguration>
    package let states: DeploymentStates
    package let budget: RetryBudget
    let metrics: ChatMetrics
    /// The node's own embedding models, for `local` deployments; nil where it serves none.
    let local: (any LocalEmbeddings)?
    /// Where each attempt's span goes (the process's tracer; tests pass one that keeps them).
    private let tracer: any LegacyTracer
    /// The jitter's dice, 0..<upper (tests pass a fixed one).
    private let random: @Sendable (Double) -> Double

    package init(
        configuration: Live<ChatConfiguration>, states: DeploymentStates, metrics: ChatMetrics, local: (any LocalEmbeddings)? = nil,
        budget: RetryBudget = RetryBudget(),
        tracer: any LegacyTracer = InstrumentationSystem.legacyTracer,
        random: @escaping @Sendable (Double) -> Double = { Double.random(in: 0..<$0) }
    ) {
        self.tracer = tracer
        self.configuration = configuration
        self.states = states
        self.metrics = metrics
        self.budget = budget
        self.local = local
        self.random = random
    }

    /// The gateway of a node: its deployments' connections made from `outbound`'s settings, its metrics
    /// reported to `metricsFactory`. `states` is a service the node runs (it closes the connections).
    package convenience init(
        configuration: Live<ChatConfiguration>, outbound: OutboundHTTPClient, local: (any LocalEmbeddings)? = nil,
        metricsFactory: any MetricsFactory
    ) {
        self.init(
            configuration: configuration, states: DeploymentStates(outbound: outbound, metricsFactory: metricsFactory),
            metrics: ChatMetrics(factory: metricsFactory), local: local)
    }

    /// Where a call was served.
    struct Route: Sendable {
        var deployment: GatewayDeployment
        /// The model that served it: the one asked for, or one of its fallbacks.
        var model: GatewayModel
        var attempts: Int
        var isFallback: Bool
        /// Counts the call in flight at the deployment until `leave` (a streamed answer's length).
        var state: DeploymentState

        /// The answer's head: its type, and what served it.
        func headers(contentType: String) -> HTTPFields {
            var headers: HTTPFields = [.contentType: contentType]
            headers[ChatCompletionsController.deploymentHeader] = deployment.id
            headers[ChatCompletionsController.attemptsHeader] = String(attempts)
            if isFallback { headers[ChatCompletionsController.fallbackHeader] = model.name }
            return headers
        }
    }

    /// The model of `kind` called or aliased `name`.
    func model(_ name: String, kind: GatewayModel.Kind, in configuration: ChatConfiguration) throws -> GatewayModel {
        guard let model = configuration.models[name] else { throw ChatError.unknownModel(name) }
        guard model.kind == kind else { throw ChatError.wrongKind(name, model.kind) }
        return model
    }

    /// Runs `attempt` at one deployment of `asked` (the request's model, resolved in `configuration`, the
    /// one the request reads throughout) after another, then of its fallbacks, until it returns. `attempt`
    /// throws an `AttemptFailure` for what the provider did; anything else (the client left) ends the call
    /// at once. With `holdsDeployment`, the deployment counts the call in flight until the caller's
    /// `route.state.leave()`.
    func call<Result: Sendable>(
        _ request: some RoutedRequest, model asked: GatewayModel, configuration: ChatConfiguration, deadline: ContinuousClock.Instant,
        holdsDeployment: Bool = false, _ attempt: (ProviderCall) async throws -> Result
    ) async throws -> (Route, Result) {
        let chain = [asked] + asked.fallbacks.compactMap { configuration.models[$0] }
        budget.start()
        defer { budget.finish() }
        var attempts = 0
        var last: (deployment: String, failure: AttemptFailure)?
        var soonest: Duration?
        var fits = false
        nextModel: for (position, model) in chain.enumerated() {
            var failed: Set<String> = []
            var excluded: Set<String> = []
            var tries = 0
            while tries <= configuration.maxRetries {
                let isRetry = attempts > 0
                if isRetry {
                    guard budget.startRetry(percent: configuration.retryBudgetPercent, minimum: configuration.minimumRetriesInFlight) else {
                        throw ChatError.failed(deployment: last!.deployment, failure: last!.failure, attempts: attempts, budgetSpent: true)
                    }
                }
                defer { if isRetry { budget.endRetry() } }
                if isRetry {
                    let wait = backoff(
                        retry: attempts, base: configuration.backoff, maximum: configuration.maximumBackoff, retryAfter: nil, random: random
                    )
                    guard ContinuousClock.now + wait < deadline else { break nextModel }
                    try await Task.sleep(for: wait)
                }
                var outcome = picker(configuration).pick(model, tokens: request.tokensNeeded, failed: failed, excluded: excluded)
                // One that may be called again soon (a short Retry-After, a circuit about to half-open) is
                // waited for rather than skipped.
                if case .noneAvailable(let wait?) = outcome, wait <= configuration.maximumBackoff, ContinuousClock.now + wait < deadline {
                    try await Task.sleep(for: wait)
                    outcome = picker(configuration).pick(model, tokens: request.tokensNeeded, failed: failed, excluded: excluded)
                }
                let deployment: GatewayDeployment
                let state: DeploymentState
                let isTrial: Bool
                switch outcome {
                case .tooLong:
                    continue nextModel
                case .noneAvailable(let wait):
                    fits = true
                    if let wait { soonest = min(soonest ?? wait, wait) }
                    continue nextModel
                case .deployment(let picked, let pickedState, let trial):
                    (deployment, state, isTrial) = (picked, pickedState, trial)
                    fits = true
                }
                if isRetry { metrics.retried(model: asked.name) }
                if position > 0 && tries == 0 { metrics.fellBack(from: asked.name, to: model.name) }
                attempts += 1
                tries += 1
                let started = ContinuousClock.now
                let attemptNumber = attempts
                do {
                    // A client span per attempt, named and described as OpenTelemetry's GenAI conventions say.
                    let operation = type(of: request).operation
                    let result = try await tracer.withAnySpan("\(operation) \(deployment.model)", ofKind: .client) { span in
                        span.attributes["gen_ai.operation.name"] = operation
                        span.attributes["gen_ai.provider.name"] = deployment.provider.rawValue
                        span.attributes["gen_ai.request.model"] = deployment.model
                        if let maxTokens = request.maxTokens { span.attributes["gen_ai.request.max_tokens"] = maxTokens }
                        span.attributes["server.address"] = deployment.baseURL.host ?? ""
                        if let port = deployment.baseURL.port { span.attributes["server.port"] = port }
                        span.attributes["conduit.deployment"] = deployment.id
                        span.attributes["conduit.attempt"] = attemptNumber
                        do {
                            return try await attempt(
                                ProviderCall(deployment: deployment, client: states.client(of: deployment), deadline: deadline, span: span))
                        } catch let failure as AttemptFailure {
                            span.attributes["error.type"] = failure.outcome
                            throw failure
                        }
                    }
                    metrics.attempted(deployment: deployment.id, outcome: "success", since: started)
                    state.breaker.record(failed: false, failures: configuration.circuitFailures, isTrial: isTrial)
                    state.observe(latency: (ContinuousClock.now - started) / .seconds(1))
                    if !holdsDeployment { state.leave() }
                    return (Route(deployment: deployment, model: model, attempts: attempts, isFallback: position > 0, state: state), result)
                } catch let failure as AttemptFailure {
                    metrics.attempted(deployment: deployment.id, outcome: failure.outcome, since: started)
                    state.breaker.record(failed: failure.isProviderFault, failures: configuration.circuitFailures, isTrial: isTrial)
                    state.leave()
                    if let retryAfter = failure.retryAfter { state.rest(for: retryAfter, from: .now) }
                    last = (deployment.id, failure)
                    failed.insert(deployment.id)
                    if failure.exceedsContextWindow { continue nextModel }
                    guard failure.triesAnotherDeployment else {
                        if case .status(let status, let code, _) = failure, !failure.isProviderFault {
                            throw ChatError.rejected(deployment: deployment.id, status: status, code: code)
                        }
                        throw ChatError.failed(deployment: deployment.id, failure: failure, attempts: attempts, budgetSpent: false)
                    }
                    if !failure.isRetryable { excluded.insert(deployment.id) }
                } catch {
                    // The client left, or the task was cancelled: no verdict on the provider.
                    state.breaker.release(isTrial: isTrial)
                    state.leave()
                    throw error
                }
            }
        }
        if let last {
            throw ChatError.failed(deployment: last.deployment, failure: last.failure, attempts: attempts, budgetSpent: false)
        }
        guard fits else { throw ChatError.contextTooLong(tokens: request.tokensNeeded) }
        throw ChatError.unavailable(model: asked.name, retryAfter: soonest)
    }

    private func picker(_ configuration: ChatConfiguration) -> DeploymentPicker {
        DeploymentPicker(states: states, cooldown: configuration.circuitCooldown, now: .now)
    }
}
