import ConduitCore
import CoreMetrics
import Synchronization

/// Stops calling an upstream that keeps failing, as LiteLLM's cooldowns and the provider layer of
/// the reviews do: after `failures` failed calls in a row the circuit opens and calls fail at once for
/// `cooldown`; then one trial call goes through (half-open), and its outcome closes or reopens it.
/// Failures are the upstream's (unreachable, timed out, 429, 5xx), not a request it refused as invalid.
package final class CircuitBreaker: Sendable {
    package enum State: Int, Sendable {
        case closed = 0
        case open = 1
        case halfOpen = 2
    }

    private struct Status {
        var state = State.closed
        var consecutiveFailures = 0
        var openedAt: ContinuousClock.Instant?
        /// Half-open: the one trial call is under way.
        var trialInFlight = false
    }

    private let status = Mutex(Status())
    private let gauge: Gauge

    package init(metricsFactory: any MetricsFactory) {
        gauge = Gauge(label: "conduit_upstream_circuit_state", factory: metricsFactory)
        gauge.record(State.closed.rawValue)
    }

    package var state: State { status.withLock { $0.state } }

    /// Lets a call through, or throws `circuitOpen` with how long until the next trial.
    package func admit(cooldown: Duration, now: ContinuousClock.Instant = .now) throws {
        let refusal = status.withLock { status -> Duration? in
            switch status.state {
            case .closed:
                return nil
            case .open:
                let reopens = (status.openedAt ?? now) + cooldown
                guard now >= reopens else { return reopens - now }
                status.state = .halfOpen
                status.trialInFlight = true
                gauge.record(State.halfOpen.rawValue)
                return nil
            case .halfOpen:
                guard !status.trialInFlight else { return cooldown }
                status.trialInFlight = true
                return nil
            }
        }
        if let refusal { throw UpstreamError.circuitOpen(retryAfter: refusal) }
    }

    /// Records how an admitted call ended.
    package func record(failed: Bool, failures: Int, now: ContinuousClock.Instant = .now) {
        status.withLock { status in
            status.trialInFlight = false
            if !failed {
                status.consecutiveFailures = 0
                status.state = .closed
            } else {
                status.consecutiveFailures += 1
                // A failed trial reopens at once; a closed circuit opens at the threshold.
                if status.state == .halfOpen || status.consecutiveFailures >= failures {
                    status.state = .open
                    status.openedAt = now
                }
            }
            gauge.record(status.state.rawValue)
        }
    }
}
