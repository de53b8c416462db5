/// Which requests the request log keeps (`request_log.*`), and for how long. Off by default.
public struct RequestLogConfiguration: Sendable, Equatable {
    /// Route templates whose requests are kept: `/v1/embeddings`, `/v1/admin/keys/{id}`.
    public var routes: [String] = []
    /// API key ids whose requests are kept, on every route.
    public var keys: [String] = []
    /// Kept this many days, then deleted.
    public var retentionDays = 7
    /// JSON fields whose values are replaced by `[redacted]` in both bodies, besides the secrets
    /// (`RequestRedaction.secretFields`) that always are.
    public var redactedFields: [String] = []
    /// A body longer than this is stored as its size only (and cannot be replayed).
    public var maxBodyBytes = 1 << 20

    public init() {}

    /// Whether a request on `path` by the key `keyID` is kept.
    package func keeps(path: String, keyID: String?) -> Bool {
        if let keyID, keys.contains(keyID) { return true }
        return routes.contains { Self.matches(template: $0, path: path) }
    }

    /// Whether `path` is an instance of `template`, where a `{name}` segment stands for any one segment.
    package static func matches(template: String, path: String) -> Bool {
        let expected = template.split(separator: "/")
        let actual = path.split(separator: "/")
        return expected.count == actual.count
            && zip(expected, actual).allSatisfy { pattern, segment in
                (pattern.hasPrefix("{") && pattern.hasSuffix("}")) || pattern == segment
            }
    }
}
