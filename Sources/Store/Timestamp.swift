import Foundation

/// Time as the store keeps it: whole seconds since 1970, which both databases compare as integers.
public enum Timestamp {
    public static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }
}
