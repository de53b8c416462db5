import Synchronization

/// Envoy's retry budget: retries in flight may be at most a share of the calls in flight (with a floor),
/// so that when a provider fails, retries add a bounded load instead of multiplying it.
package final class RetryBudget: Sendable {
    private let counts = Mutex((calls: 0, retries: 0))

    package init() {}

    /// A call starts; `finish` when it has ended.
    func start() { counts.withLock { $0.calls += 1 } }
    func finish() { counts.withLock { $0.calls -= 1 } }

    /// Takes a place for a retry if the budget has one; `endRetry` when its attempt has ended.
    func startRetry(percent: Int, minimum: Int) -> Bool {
        counts.withLock { counts in
            let allowed = max(minimum, counts.calls * percent / 100)
            guard counts.retries < allowed else { return false }
            counts.retries += 1
            return true
        }
    }

    func endRetry() { counts.withLock { $0.retries -= 1 } }

    /// Retries in flight now.
    package var retriesInFlight: Int { counts.withLock { $0.retries } }
}

/// The wait before retry `number` (1 for the first): exponential with full jitter (a random wait up
/// to the exponential bound, at most `maximum`, so that clients failed together do not retry
/// together), or what the provider asked for in `Retry-After`, whichever is longer.
func backoff(retry number: Int, base: Duration, maximum: Duration, retryAfter: Duration?, random: (Double) -> Double) -> Duration {
    let bound = min(maximum, base * Double(1 << min(number - 1, 20)))
    return max(bound * random(1), retryAfter ?? .zero)
}
