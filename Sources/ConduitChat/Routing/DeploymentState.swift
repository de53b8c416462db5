import AsyncHTTPClient
import ConduitCore
import CoreMetrics
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// What this node knows of a deployment across calls: its circuit, its calls in flight, its latency,
/// and the HTTP client (a connection pool) its calls go through.
package final class DeploymentState: Sendable {
    package let breaker: CircuitBreaker
    private let counters = Mutex((outstanding: 0, latency: Double?.none, restingUntil: ContinuousClock.Instant?.none))

    init(breaker: CircuitBreaker) { self.breaker = breaker }

    /// Calls in flight from this node.
    package var outstanding: Int { counters.withLock { $0.outstanding } }

    /// Moving average of a successful attempt's latency in seconds (time to the answer's head), nil
    /// before the first.
    package var latency: Double? { counters.withLock { $0.latency } }

    /// Counts a call in flight if the deployment has room for it.
    func enter(limit: Int?) -> Bool {
        counters.withLock { counters in
            if let limit, counters.outstanding >= limit { return false }
            counters.outstanding += 1
            return true
        }
    }

    func leave() { counters.withLock { $0.outstanding -= 1 } }

    /// How long the provider asked (`Retry-After`) not to be called, from `now`; nil when it may be.
    func rest(at now: ContinuousClock.Instant) -> Duration? {
        counters.withLock { counters in counters.restingUntil.flatMap { $0 > now ? $0 - now : nil } }
    }

    /// Honours a `Retry-After`: no call goes here before it has passed.
    func rest(for duration: Duration, from now: ContinuousClock.Instant) {
        counters.withLock { counters in counters.restingUntil = max(counters.restingUntil ?? now, now + duration) }
    }

    /// Folds a successful attempt's latency into the average: recent attempts weigh most.
    func observe(latency seconds: Double) {
        counters.withLock { counters in
            counters.latency = counters.latency.map { $0 + Self.smoothing * (seconds - $0) } ?? seconds
        }
    }

    /// Each new latency moves the average a fifth of the way: a slow spell shows within a few calls.
    static let smoothing = 0.2
}

/// Every deployment's state, by id, kept across configuration reloads (a reload that keeps a
/// deployment's name keeps its circuit and averages), with one HTTP client per deployment, timeout and
/// event loop. A service: the clients' connections close when the node stops.
package final class DeploymentStates: Service, Sendable {
    private let states = Mutex<[String: DeploymentState]>([:])
    private let clients = Mutex<[ClientKey: HTTPClient]>([:])
    private let outbound: OutboundHTTPClient
    private let metricsFactory: any MetricsFactory
    private let now: @Sendable () -> ContinuousClock.Instant

    private struct ClientKey: Hashable {
        var deployment: String
        var timeout: Duration
        var eventLoop: ObjectIdentifier
    }

    package init(
        outbound: OutboundHTTPClient, metricsFactory: any MetricsFactory,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.outbound = outbound
        self.metricsFactory = metricsFactory
        self.now = now
    }

    package func state(of deployment: GatewayDeployment) -> DeploymentState {
        states.withLock { states in
            if let state = states[deployment.id] { return state }
            let gauge = Gauge(
                label: "conduit_chat_deployment_circuit_state", dimensions: [("deployment", deployment.id)], factory: metricsFactory)
            let state = DeploymentState(breaker: CircuitBreaker(gauge: gauge, now: now))
            states[deployment.id] = state
            return state
        }
    }

    /// The client of `deployment`'s calls made from this event loop (the one a request is handled on):
    /// its connections live on the same loop, so a call's reads and writes upstream run on the thread
    /// that serves its client, with no hop between threads (a client shared by the loops hands a call an
    /// idle connection of any loop). A call fails when nothing arrives for the deployment's timeout.
    /// `max_concurrent` is held by `enter(limit:)` on the node's count, so each loop's pool may grow to it.
    package func client(of deployment: GatewayDeployment) -> HTTPClient {
        let eventLoop = MultiThreadedEventLoopGroup.currentEventLoop ?? MultiThreadedEventLoopGroup.singleton.next()
        return clients.withLock { clients in
            let key = ClientKey(deployment: deployment.id, timeout: deployment.timeout, eventLoop: ObjectIdentifier(eventLoop))
            if let client = clients[key] { return client }
            let client = outbound.makeClient(
                readTimeout: deployment.timeout, connections: deployment.maxConcurrent ?? Self.connectionsWithoutLimit, on: eventLoop)
            clients[key] = client
            return client
        }
    }

    /// Connections to a deployment that sets no `max_concurrent`.
    static let connectionsWithoutLimit = 1024

    package func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Closes every client's connections.
    package func shutdown() async {
        for client in clients.withLock({ Array($0.values) }) { try? await client.shutdown() }
    }
}
