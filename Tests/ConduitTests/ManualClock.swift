import Synchronization

/// A clock the test moves by hand: for the scheduler, time stands still until `advance(by:)`, so a
/// deadline passes or a batch takes five seconds exactly when the test says, with no sleeping.
final class ManualClock: Sendable {
    private let start = ContinuousClock.now
    private let elapsed = Mutex(Duration.zero)

    var now: ContinuousClock.Instant { start + elapsed.withLock { $0 } }

    func advance(by duration: Duration) { elapsed.withLock { $0 += duration } }
}
