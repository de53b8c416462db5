import Conduit
import ConduitTestSupport
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Store
import Testing

@testable import ConduitCore

@Suite("Trusted proxies")
struct TrustedProxiesTests {
    @Test("entries are addresses or CIDR ranges, IPv4 and IPv6; anything else is refused")
    func entries() throws {
        let proxies = try #require(TrustedProxies(["10.0.0.0/8", "192.0.2.10", "fd00::/8", "2001:db8::1"]))
        for inside in ["10.1.2.3", "10.255.0.1", "192.0.2.10", "fd12::5", "2001:db8::1", "::ffff:10.0.0.5"] {
            #expect(proxies.contains(inside), "\(inside)")
        }
        for outside in ["11.0.0.1", "192.0.2.11", "fe80::1", "2001:db8::2", "not-an-address"] {
            #expect(!proxies.contains(outside), "\(outside)")
        }
        for invalid in ["10.0.0.0/33", "fd00::/129", "10.0.0.0/x", "proxy.example", ""] {
            #expect(TrustedProxies([invalid]) == nil, "\(invalid)")
        }
        #expect(TrustedProxies(["172.16.0.0/12"])?.contains("172.31.255.255") == true)
        #expect(TrustedProxies(["172.16.0.0/12"])?.contains("172.32.0.0") == false)
    }

    @Test("the client is the last forwarded address a trusted proxy did not write; an untrusted peer is the client whatever it says")
    func client() throws {
        let proxies = try #require(TrustedProxies(["10.0.0.0/8"]))
        #expect(proxies.client(peer: "203.0.113.9", forwardedFor: "198.51.100.7") == "203.0.113.9", "the peer is not a proxy")
        #expect(proxies.client(peer: "10.0.0.2", forwardedFor: nil) == "10.0.0.2")
        #expect(proxies.client(peer: "10.0.0.2", forwardedFor: "198.51.100.7") == "198.51.100.7")
        #expect(proxies.client(peer: "10.0.0.2", forwardedFor: "198.51.100.7, 10.0.0.3") == "198.51.100.7", "through two proxies")
        #expect(
            proxies.client(peer: "10.0.0.2", forwardedFor: "6.6.6.6, 198.51.100.7") == "198.51.100.7",
            "what the client wrote itself is not believed")
        #expect(proxies.client(peer: "10.0.0.2", forwardedFor: "198.51.100.7, unknown") == "10.0.0.2", "nothing past garbage")
        #expect(proxies.client(peer: "10.0.0.2", forwardedFor: "10.0.0.9") == "10.0.0.9", "every hop a proxy: the first")
    }

    @Test("behind a trusted proxy the access log names the forwarded client; from anyone else the header is ignored")
    func accessLog() async throws {
        for (trusted, expected) in [(["127.0.0.1"], "198.51.100.7"), ([], "127.0.0.1")] {
            let captured = LogCapture()
            let (app, _) = try TestServer.application(logger: captured.logger) { $0.server.trustedProxies = trusted }
            try await app.test(.live) { client in
                _ = try await client.execute(
                    uri: "/health/live", method: .get, headers: [HTTPField.Name("X-Forwarded-For")!: "198.51.100.7"])
            }
            let line = try #require(captured.text.split(separator: "\n").first { $0.contains("request") && $0.contains("/health/live") })
            #expect(line.contains("client=\(expected)"), "\(line)")
        }
    }
}
