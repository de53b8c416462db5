import CoreMetrics
import Synchronization

/// Stops calling a deployment that keeps failing, as LiteLLM's cooldowns and Envoy's outlier detection
/// do: after `failures` failed calls in a row the circuit opens and calls skip it for `cooldown`; then
/// one trial call goes through (half-open), and its outcome closes or reopens it. Failures are the
/// provider's (unreachable, timed out, 429, 5xx), not a request it refused as invalid.
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
    private let gauge: Gauge?
    private let now: @Sendable () -> ContinuousClock.Instant

    /// - Parameters:
    ///   - gauge: reports the state (0 closed, 1 open, 2 half-open).
    ///   - now: the clock (tests pass one they move by hand).
    package init(gauge: Gauge? = nil, now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.gauge = gauge
        self.now = now
        gauge?.record(State.closed.rawValue)
    }

    package var state: State { status.withLock { $0.state } }

    /// Whether a call may go.
    package enum Admission: Equatable, Sendable {
        /// It may; `isTrial`: it is the half-open trial, the one call whose ending frees the way for the next.
        case admitted(isTrial: Bool)
        /// Not before `retryAfter`.
        case refused(retryAfter: Duration)
    }

    /// Lets a call through, or says how long until the next trial. An admitted call must be recorded, or
    /// released if it was never made, saying whether it was the trial.
    package func admit(cooldown: Duration) -> Admission {
        let now = now()
        return status.withLock { status -> Admission in
            switch status.state {
            case .closed:
                return .admitted(isTrial: false)
            case .open:
                let reopens = (status.openedAt ?? now) + cooldown
                guard now >= reopens else { return .refused(retryAfter: reopens - now) }
                status.state = .halfOpen
                status.trialInFlight = true
                gauge?.record(State.halfOpen.rawValue)
                return .admitted(isTrial: true)
            case .halfOpen:
                guard !status.trialInFlight else { return .refused(retryAfter: cooldown) }
                status.trialInFlight = true
                return .admitted(isTrial: true)
            }
        }
    }

    /// How long until a call would be let through (nil: now), without taking the trial: for choosing
    /// among deployments.
    package func timeUntilTrial(cooldown: Duration) -> Duration? {
        let now = now()
        return status.withLock { status in
            switch status.state {
            case .closed: return nil
            case .open:
                let wait = (status.openedAt ?? now) + cooldown - now
                return wait > .zero ? wait : nil
            case .halfOpen: return status.trialInFlight ? cooldown : nil
            }
        }
    }

    /// Records how an admitted call ended. Only the trial's ending frees the way for another trial: a call
    /// admitted before the circuit opened that ends during the trial does not.
    package func record(failed: Bool, failures: Int, isTrial: Bool) {
        let now = now()
        status.withLock { status in
            if isTrial { status.trialInFlight = false }
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
            gauge?.record(status.state.rawValue)
        }
    }

    /// An admitted call that ended with no verdict on the provider (the client went away): the trial, if it
    /// was the trial, goes to the next call.
    package func release(isTrial: Bool) {
        if isTrial { status.withLock { $0.trialInFlight = false } }
    }
}
