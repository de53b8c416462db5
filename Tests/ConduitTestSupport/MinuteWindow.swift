import Foundation

/// Rate limits count in minute windows of the wall clock (the previous minute weighing in, rounded down):
/// a test that counts requests against a per-minute limit must not straddle a minute's turn, or one more
/// request fits. On a loaded machine a few requests can take tens of seconds, so such a test starts early
/// in a minute, waiting for the next one when too little of this one is left.
public func startEarlyInAMinute(leaving needed: Duration = .seconds(40)) async throws {
    let intoMinute = Date().timeIntervalSince1970.truncatingRemainder(dividingBy: 60)
    let left = 60 - intoMinute
    if left < Double(needed.components.seconds) { try await Task.sleep(for: .milliseconds(Int((left + 0.2) * 1000))) }
}
