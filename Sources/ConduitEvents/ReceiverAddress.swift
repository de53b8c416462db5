import Foundation
import NIOPosix

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Which addresses a webhook may be delivered to. Unless `webhooks.allow_private_addresses` is on,
/// only public unicast ones: a team that registers `http://169.254.169.254/` or `http://localhost:5432/`
/// must not get the server to post there.
package enum ReceiverAddress {
    /// Why `url` may not receive webhooks, or nil when it may (as far as its form tells: a host name
    /// is resolved and checked at each delivery).
    package static func problem(withURL text: String, allowPrivate: Bool) -> String? {
        guard text.utf8.count <= 2000, !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }),
            let url = URL(string: text), let scheme = url.scheme?.lowercased(),
            ["http", "https"].contains(scheme), let host = url.host(percentEncoded: false), !host.isEmpty
        else { return "must be an http(s) URL with a host, of at most 2000 characters" }
        guard url.user == nil, url.password == nil else { return "must not hold credentials" }
        // Decoded, a host may hold what its text hid (%00, %0A): only a name's or an address literal's characters.
        guard IPAddress(host) != nil || host.unicodeScalars.allSatisfy({ Self.hostNameCharacters.contains($0) }) else {
            return "has a host with characters no host name has"
        }
        if !allowPrivate, let address = IPAddress(host), !address.isPublic {
            return "is a private, loopback or link-local address (webhooks.allow_private_addresses is off)"
        }
        return nil
    }

    private static let hostNameCharacters = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._")

    /// Resolves `host` (on a thread of its own: the lookup blocks) and throws unless every address it
    /// has may receive webhooks; returns the address to connect to, so that a second lookup by the
    /// HTTP client cannot be answered with another (DNS rebinding). Nil when any address may receive.
    package static func check(host: String, allowPrivate: Bool) async throws -> IPAddress? {
        guard !allowPrivate else { return nil }
        let addresses = try await NIOThreadPool.singleton.runIfActive { try resolve(host) }
        guard let first = addresses.first else { throw DeliveryError.unreachable("\(host) has no address") }
        if let address = addresses.first(where: { !$0.isPublic }) {
            throw DeliveryError.addressNotAllowed("\(host) is \(address), not a public address")
        }
        return first
    }

    private static func resolve(_ host: String) throws -> [IPAddress] {
        if let literal = IPAddress(host) { return [literal] }
        var hints = addrinfo()
        #if canImport(Glibc)
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
            hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        // No such name is an answer, not an outage: another attempt would get the same.
        if status == EAI_NONAME { throw DeliveryError.noSuchHost(host) }
        guard status == 0, let first = list else { throw DeliveryError.unreachable("\(host) could not be resolved") }
        defer { freeaddrinfo(first) }
        var addresses: [IPAddress] = []
        for entry in sequence(first: first, next: { $0.pointee.ai_next }) {
            guard let socket = entry.pointee.ai_addr else { continue }
            switch Int32(socket.pointee.sa_family) {
            case AF_INET:
                let bytes = socket.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                    withUnsafeBytes(of: $0.pointee.sin_addr) { Array($0) }
                }
                addresses.append(.v4(bytes))
            case AF_INET6:
                let bytes = socket.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                    withUnsafeBytes(of: $0.pointee.sin6_addr) { Array($0) }
                }
                addresses.append(.v6(bytes))
            default: continue
            }
        }
        return addresses
    }
}

/// An IPv4 or IPv6 address, as its bytes in network order.
package enum IPAddress: Equatable, CustomStringConvertible {
    case v4([UInt8])
    case v6([UInt8])

    /// Parses a literal address (`10.0.0.1`, `::1`, `[::1]`).
    package init?(_ text: String) {
        let literal = text.hasPrefix("[") && text.hasSuffix("]") ? String(text.dropFirst().dropLast()) : text
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, literal, &v4) == 1 {
            self = .v4(withUnsafeBytes(of: v4) { Array($0) })
        } else if inet_pton(AF_INET6, literal, &v6) == 1 {
            self = .v6(withUnsafeBytes(of: v6) { Array($0) })
        } else {
            return nil
        }
    }

    /// Not loopback, private, shared (carrier-grade NAT), link-local, unspecified, multicast or reserved.
    package var isPublic: Bool {
        switch self {
        case .v4(let b):
            switch b[0] {
            case 0, 10, 127, 224...255: return false
            case 100: return !(64...127).contains(b[1])
            case 169: return b[1] != 254
            case 172: return !(16...31).contains(b[1])
            case 192: return !(b[1] == 168 || (b[1] == 0 && (b[2] == 0 || b[2] == 2)))
            case 198: return !((b[1] & 0xFE) == 18 || (b[1] == 51 && b[2] == 100))
            case 203: return !(b[1] == 0 && b[2] == 113)
            default: return true
            }
        case .v6(let b):
            // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible and NAT64 (64:ff9b::/96) addresses, and 6to4
            // (2002::/16), are judged as the IPv4 address they hold.
            if b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xFF && b[3] == 0x9B { return IPAddress.v4(Array(b[12...])).isPublic }
            if b[0] == 0x20 && b[1] == 0x02 { return IPAddress.v4(Array(b[2..<6])).isPublic }
            if b[0..<10].allSatisfy({ $0 == 0 })
                && ((b[10] == 0xFF && b[11] == 0xFF) || (b[10] == 0 && b[11] == 0 && b[12...].contains { $0 != 0 }))
            {
                return IPAddress.v4(Array(b[12...])).isPublic
            }
            // The rest of ::/8 is reserved: the unspecified address, IPv4-translated (::ffff:0:a.b.c.d) and others.
            if b[0] == 0 { return false }
            if b[0] == 0xFF { return false }  // multicast
            if (b[0] & 0xFE) == 0xFC { return false }  // unique local fc00::/7
            if b[0] == 0xFE && (b[1] & 0xC0) == 0x80 { return false }  // link-local fe80::/10
            if b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0D && b[3] == 0xB8 { return false }  // documentation
            return true
        }
    }

    package var description: String {
        switch self {
        case .v4(let b): return b.map(String.init).joined(separator: ".")
        case .v6(let b):
            return stride(from: 0, to: 16, by: 2).map { String(UInt16(b[$0]) << 8 | UInt16(b[$0 + 1]), radix: 16) }.joined(separator: ":")
        }
    }
}
