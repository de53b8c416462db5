import ConduitCore
import Foundation
import NIOCore

/// `server.*`: where the node listens, what it runs, and how it treats connections and requests.
public struct HTTPServerConfiguration: Sendable, Equatable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// What this node runs (`NodeFeature` names); every feature by default.
    public var features: [String] = NodeFeature.allCases.map(\.rawValue)
    /// Open connections at most; past it, an idle one is closed to make room, or new connections get 503.
    public var maxConnections = 1024
    /// Open connections from one client address at most (503 beyond), so that one client cannot take them all.
    public var maxConnectionsPerAddress = 128
    /// Addresses of reverse proxies in front of the server: many clients share their address, so the
    /// per-address cap does not apply to them.
    public var trustedProxies: [String] = []
    /// A connection with no request in progress is closed after this long: keep-alive idleness, and a
    /// client that never finishes sending a request head.
    public var idleTimeout: Duration = .seconds(30)
    /// Longest a request may take from its head to its answer.
    public var requestDeadline: Duration = .seconds(120)
    /// Browser origins allowed to call the API (CORS); none by default.
    public var corsOrigins: Set<String> = []
    /// Latency objectives by route template (`/v1/embeddings`): each answer on such a route counts as
    /// a good or a bad event in `conduit_slo_requests_total`.
    public var latencyObjectives: [String: Duration] = [:]

    public init() {}

    /// What this node runs.
    public var nodeFeatures: Set<NodeFeature> { Set(features.compactMap(NodeFeature.init(rawValue:))) }

    public var bindsToLoopback: Bool { host == "localhost" || host == "::1" || host.hasPrefix("127.") }

    public func validate() throws {
        guard (0...65535).contains(port) else { throw ConfigurationError("server.port must be between 0 and 65535, got \(port)") }
        guard maxConnections >= 1 else { throw ConfigurationError("server.max_connections must be at least 1, got \(maxConnections)") }
        if let proxy = trustedProxies.first(where: { !TrustedProxies.isValid($0) }) {
            throw ConfigurationError("server.trusted_proxies takes IP addresses and CIDR ranges, got '\(proxy)'")
        }
        guard idleTimeout > .zero, requestDeadline > .zero else {
            throw ConfigurationError("server.idle_timeout_seconds and server.request_deadline_seconds must be positive")
        }
        if let (route, objective) = latencyObjectives.first(where: { !$0.key.hasPrefix("/") || $0.value <= .zero }) {
            throw ConfigurationError(
                "server.latency_objectives needs a route template starting with / and a duration above zero, got \(route)=\(objective)")
        }
        if nodeFeatures.contains(.insights), !nodeFeatures.contains(.embeddings) {
            throw ConfigurationError("server.features: insights needs embeddings (its analyzers and cache use the local model)")
        }
        if nodeFeatures.contains(.agents), !nodeFeatures.contains(.embeddings) {
            throw ConfigurationError("server.features: agents needs embeddings (its router uses the local model)")
        }
        if let origin = corsOrigins.first(where: { !Self.isOrigin($0) }) {
            throw ConfigurationError("server.cors_origins takes scheme://host[:port] with no path, got '\(origin)'")
        }
    }

    static let settings: [Setting<HTTPServerConfiguration>] = [
        .text(
            "server.host", allowed: "a host name or IP address", \.host, help: "address to bind; beyond loopback only with auth.enabled",
            parse: SettingValues.nonEmpty, show: { $0 }),
        .integer("server.port", 0...65535, \.port, help: "port to listen on"),
        .list(
            "server.features", allowed: "a list of \(NodeFeature.allCases.map(\.rawValue).joined(separator: ", "))", \.features,
            help: "what this node runs; insights and agents need embeddings", isAllowed: { NodeFeature(rawValue: $0) != nil }),
        .integer(
            "server.max_connections", 1...1_000_000, \.maxConnections,
            help: "most open connections; past it an idle one is closed to make room, or new connections get 503"),
        .integer(
            "server.max_connections_per_address", 1...1_000_000, \.maxConnectionsPerAddress,
            help: "most open connections from one client address (trusted proxies exempt); 503 beyond"),
        .list(
            "server.trusted_proxies", allowed: "a list of IP addresses and CIDR ranges", \.trustedProxies,
            help:
                "reverse proxies in front of the server: exempt from the per-address connection cap, and believed about the client (X-Forwarded-For) in logs and the login limiter",
            isAllowed: TrustedProxies.isValid),
        .seconds(
            "server.idle_timeout_seconds", \.idleTimeout,
            help: "closes a connection with no request in progress: idle keep-alive connections and slow request heads"),
        .seconds("server.request_deadline_seconds", \.requestDeadline, help: "longest a request may take, 408 beyond"),
        Setting(
            key: "server.cors_origins", isList: true, allowed: "a list of origins, scheme://host[:port] with no path",
            help: "browser origins allowed to call the API (CORS)", isReloadable: true,
            apply: { values, configuration in
                guard values.allSatisfy(isOrigin) else { return false }
                configuration.corsOrigins = Set(values)
                return true
            },
            current: { $0.corsOrigins.sorted().joined(separator: ",") }, copy: { $1.corsOrigins = $0.corsOrigins }),
        .keyedList(
            "server.latency_objectives", form: "ROUTE=MILLISECONDS entries (/v1/embeddings=200)", reloadable: true,
            \.latencyObjectives, help: "latency objectives by route template: each answer counts in conduit_slo_requests_total",
            parse: { route, text in
                guard route.hasPrefix("/"), let milliseconds = Double(text), milliseconds > 0, milliseconds.isFinite else { return nil }
                return .milliseconds(milliseconds)
            },
            show: { "\($0 / .milliseconds(1))" }),
    ]

    private static func isOrigin(_ text: String) -> Bool {
        (text.hasPrefix("https://") || text.hasPrefix("http://")) && !text.hasSuffix("/")
    }
}
