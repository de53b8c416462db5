import Foundation
import NIOCore

/// The reverse proxies in front of the server (`server.trusted_proxies`: addresses or CIDR ranges), and
/// what they say of the client: behind them, the client is the last address of `X-Forwarded-For` that
/// is not one of them, read from the right (each proxy appends the address it was called from, so
/// only the entries that trusted proxies wrote can be believed). A peer that is not trusted is the
/// client whatever it sends.
package struct TrustedProxies: Sendable {
    private struct Range: Sendable {
        var bytes: [UInt8]
        var prefix: Int

        func contains(_ address: [UInt8]) -> Bool {
            guard address.count == bytes.count else { return false }
            let whole = prefix / 8
            guard address.prefix(whole) == bytes.prefix(whole) else { return false }
            let rest = prefix % 8
            guard rest > 0 else { return true }
            let mask = UInt8(0xFF) << (8 - rest)
            return address[whole] & mask == bytes[whole] & mask
        }
    }

    private let ranges: [Range]

    /// Nil when an entry is neither an address nor a range (`10.0.0.0/8`, `fd00::/8`).
    package init?(_ entries: [String]) {
        var ranges: [Range] = []
        for entry in entries {
            let parts = entry.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard let bytes = Self.bytes(of: parts[0]) else { return nil }
            let prefix = parts.count == 2 ? Int(parts[1]) : bytes.count * 8
            guard let prefix, (0...bytes.count * 8).contains(prefix) else { return nil }
            ranges.append(Range(bytes: bytes, prefix: prefix))
        }
        self.ranges = ranges
    }

    package static func isValid(_ entry: String) -> Bool { TrustedProxies([entry]) != nil }

    package func contains(_ address: String) -> Bool {
        guard let bytes = Self.bytes(of: address) else { return false }
        return ranges.contains { $0.contains(bytes) }
    }

    /// The client of a request that came from `peer` with these `X-Forwarded-For` headers.
    package func client(peer: String?, forwardedFor: String?) -> String? {
        guard let peer, contains(peer), let forwardedFor else { return peer }
        let hops = forwardedFor.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        var client = peer
        for hop in hops.reversed() {
            // A hop that is not an address (`unknown`, garbage): nothing before it can be believed.
            guard Self.bytes(of: hop) != nil else { break }
            client = hop
            if !contains(hop) { break }
        }
        return client
    }

    private static func bytes(of text: String) -> [UInt8]? { (try? SocketAddress(ipAddress: text, port: 0))?.addressBytes }
}

extension SocketAddress {
    /// The IP address's bytes: 4 for IPv4, an IPv4-mapped IPv6 address (`::ffff:10.0.0.5`) included, 16
    /// for IPv6; nil for a Unix socket.
    package var addressBytes: [UInt8]? {
        switch self {
        case .v4(let v4): return withUnsafeBytes(of: v4.address.sin_addr) { Array($0) }
        case .v6(let v6):
            let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            let isMapped = bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF
            return isMapped ? Array(bytes[12...]) : bytes
        case .unixDomainSocket: return nil
        }
    }
}
