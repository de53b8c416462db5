import Foundation

/// Time as the store keeps it, in every table: milliseconds since 1970 (UTC), an integer both databases
/// compare and index alike. The API speaks whole seconds; ``seconds(_:)`` is the one conversion.
public enum StoreTime {
    public static let second: Int64 = 1_000
    public static let minute: Int64 = 60 * second
    public static let day: Int64 = 86_400 * second

    public static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1_000) }

    /// A duration as the store adds it to a time.
    public static func span(_ duration: Duration) -> Int64 {
        duration.components.seconds * second + duration.components.attoseconds / 1_000_000_000_000_000
    }

    /// Whole seconds from `now` until `later` (both stored times), rounded up: what a `Retry-After` says.
    public static func secondsUntil(_ later: Int64, from now: Int64) -> Int64 {
        max(0, (later - now + second - 1) / second)
    }

    /// A stored time as the API shows it: whole seconds since 1970.
    public static func seconds(_ stored: Int64) -> Int64 { stored / second }
    public static func seconds(_ stored: Int64?) -> Int64? { stored.map(seconds) }
}
