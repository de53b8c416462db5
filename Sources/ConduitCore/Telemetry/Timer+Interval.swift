import CoreMetrics

extension Timer {
    /// Records the time from `start` to `end` (by default, now).
    package func recordInterval(since start: ContinuousClock.Instant, until end: ContinuousClock.Instant = .now) {
        let elapsed = end - start
        recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }
}
