import Conduit
import ConduitTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOPosix
import Testing

@testable import ConduitCore
@testable import ConduitEmbeddings

extension EndToEnd {
    @Suite("Hardened gateway")
    struct HardeningTests {
        @Test("security headers on every answer, errors included")
        func securityHeaders() async throws {
            let (app, _) = try TestServer.application()
            try await app.test(.router) { client in
                for uri in ["/health/live", "/no/such/route"] {
                    let response = try await client.execute(uri: uri, method: .get)
                    #expect(response.headers[HTTPField.Name("x-content-type-options")!] == "nosniff", "\(uri)")
                    #expect(response.headers[.cacheControl] == "no-store", "\(uri)")
                    #expect(response.headers[HTTPField.Name("x-frame-options")!] == "DENY", "\(uri)")
                }
            }
        }

        @Test("deeply nested JSON is refused with 400, not a crash")
        func jsonDepth() async throws {
            let (app, _) = try TestServer.application()
            try await app.test(.router) { client in
                for depth in [600, 100_000] {
                    let body = #"{"input":"# + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}"
                    let response = try await client.execute(
                        uri: "/v1/embeddings", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body))
                    #expect(response.status == .badRequest, "depth \(depth)")
                }
            }
        }

        @Test("CORS: only listed origins are allowed, preflight included; none by default")
        func cors() async throws {
            let (app, _) = try TestServer.application { $0.server.corsOrigins = ["https://app.example.com"] }
            try await app.test(.router) { client in
                let allowed = try await client.execute(uri: "/v1/models", method: .get, headers: [.origin: "https://app.example.com"])
                #expect(allowed.headers[.accessControlAllowOrigin] == "https://app.example.com")
                let other = try await client.execute(uri: "/v1/models", method: .get, headers: [.origin: "https://evil.example.com"])
                #expect(other.headers[.accessControlAllowOrigin] == nil)
                let preflight = try await client.execute(
                    uri: "/v1/embeddings", method: .options,
                    headers: [.origin: "https://app.example.com", .accessControlRequestMethod: "POST"])
                #expect(preflight.status == .noContent && preflight.headers[.accessControlAllowHeaders]?.contains("authorization") == true)
                let error = try await client.execute(uri: "/v1/models/nope", method: .get, headers: [.origin: "https://app.example.com"])
                #expect(error.status == .notFound && error.headers[.accessControlAllowOrigin] == "https://app.example.com")
            }
            let (plain, _) = try TestServer.application()
            try await plain.test(.router) { client in
                let response = try await client.execute(uri: "/v1/models", method: .get, headers: [.origin: "https://app.example.com"])
                #expect(response.headers[.accessControlAllowOrigin] == nil)
            }
            #expect(throws: ConfigurationError.self) {
                var configuration = ServerConfiguration()
                configuration.server.corsOrigins = ["app.example.com/"]
                try configuration.validate()
            }
        }

        @Test("a request past its deadline is cancelled and answered 408")
        func requestDeadline() async throws {
            let (app, _) = try TestServer.application {
                // The queue's own timeout (503) must not fire first on a busy machine: the deadline is what is tested.
                $0.scheduler.requestTimeout = .milliseconds(29)
                $0.server.requestDeadline = .milliseconds(30)
            }
            try await app.test(.router) { client in
                let texts = Array(repeating: "\"" + Array(repeating: "slow", count: 250).joined(separator: " ") + "\"", count: 256)
                let response = try await client.execute(
                    uri: "/v1/embeddings", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: #"{"input":[\#(texts.joined(separator: ","))]}"#))
                #expect(response.status == .requestTimeout)
            }
        }

        @Test("a client that never finishes its request head is cut off after the idle timeout")
        func slowHead() async throws {
            let (app, _) = try TestServer.application { $0.server.idleTimeout = .milliseconds(300) }
            try await app.test(.live) { client in
                let port = try #require(client.port)
                let started = ContinuousClock.now
                let (_, closed) = try await RawHTTP.exchange(
                    port: port, send: "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\n", wait: .seconds(5))
                #expect(closed)
                #expect(ContinuousClock.now - started < .seconds(3))
            }
        }

        @Test(
            "a chunked body that grows past the size limit is 413 body_too_large, and a malformed chunk is 400, not a 500: there is no Content-Length to judge them by before reading"
        )
        func chunkedBodies() async throws {
            let (app, _) = try TestServer.application { $0.limits.maxBodyBytes = 1000 }
            try await app.test(.live) { client in
                let port = try #require(client.port)
                let chunk = #"{"input":""# + String(repeating: "a", count: 1500) + #""}"#
                let head = "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                let (large, _) = try await RawHTTP.exchange(
                    port: port, send: head + String(chunk.utf8.count, radix: 16) + "\r\n" + chunk + "\r\n0\r\n\r\n", wait: .seconds(5))
                #expect(large.hasPrefix("HTTP/1.1 413") && large.contains("body_too_large"), "\(large.prefix(300))")
                let (malformed, _) = try await RawHTTP.exchange(port: port, send: head + "zz\r\n{}\r\n0\r\n\r\n", wait: .seconds(5))
                #expect(malformed.hasPrefix("HTTP/1.1 400"), "\(malformed.prefix(300))")
            }
        }

        @Test(
            "what is not HTTP is answered 400 (431 for huge headers) in the error shape before the connection closes, on a first request and a later one alike",
            arguments: [
                ("GET /health/live HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", "HTTP/1.1 400", "malformed_request"),
                (
                    "GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\nGE\u{01}T / HTTP/1.1\r\n\r\n", "HTTP/1.1 400",
                    "malformed_request"
                ),
                (
                    "GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "a", count: 100_000) + "\r\n\r\n", "HTTP/1.1 431",
                    "headers_too_large"
                ),
            ])
        func parserErrors(request: String, status: String, code: String) async throws {
            let (app, _) = try TestServer.application()
            try await app.test(.live) { client in
                let (answer, closed) = try await RawHTTP.exchange(port: try #require(client.port), send: request, wait: .seconds(5))
                let last = try #require(answer.components(separatedBy: "HTTP/1.1 ").last.map { "HTTP/1.1 " + $0 })
                #expect(last.hasPrefix(status), "\(answer.prefix(400))")
                #expect(last.contains(#""code":"\#(code)""#) && last.contains(#""type":"invalid_request_error""#))
                #expect(RawHTTP.header("Content-Type", in: last) == "application/json")
                #expect(closed)
            }
        }

        @Test("a request that carries Upgrade: websocket to a route that does not speak it is served as any request")
        func upgradeElsewhere() async throws {
            let (app, _) = try TestServer.application()
            try await app.test(.live) { client in
                let (answer, _) = try await RawHTTP.exchange(
                    port: try #require(client.port),
                    send: "GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", wait: .seconds(2))
                #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer.prefix(300))")
            }
        }

        @Test("an HTTP/1.0 request without keep-alive gets its answer and its connection closes at once, not after the idle timeout")
        func http10() async throws {
            let (app, _) = try TestServer.application()
            try await app.test(.live) { client in
                let port = try #require(client.port)
                let started = ContinuousClock.now
                let (bytes, closed) = try await RawHTTP.exchange(port: port, send: "GET /health/live HTTP/1.0\r\n\r\n", wait: .seconds(10))
                #expect(bytes.contains(" 200 ") && closed && ContinuousClock.now - started < .seconds(3), "\(bytes.prefix(100))")
                let (kept, keptClosed) = try await RawHTTP.exchange(
                    port: port, send: "GET /health/live HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", wait: .seconds(1))
                #expect(kept.contains(" 200 ") && !keptClosed, "keep-alive asked for is kept")
            }
        }

        /// A connection that has sent `send` and holds on.
        private static let busyHead =
            "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n"

        @Test(
            "when the server is full a connection with no request in progress is closed to make room; with every connection busy a new one gets 503 too_many_connections and is closed"
        )
        func connectionCap() async throws {
            let (app, _) = try TestServer.application { $0.server.maxConnections = 2 }
            try await app.test(.live) { client in
                let port = try #require(client.port)
                let idle = try await RawHTTP.hold(port: port)
                let busy = try await RawHTTP.hold(port: port, sending: Self.busyHead)
                try await Task.sleep(for: .milliseconds(100))
                let (served, _) = try await RawHTTP.exchange(port: port, send: RawHTTP.request("GET", "/health/live"), wait: .seconds(5))
                #expect(served.hasPrefix("HTTP/1.1 200"), "\(served.prefix(200))")
                #expect(try await eventually(within: .seconds(5)) { !idle.isActive }, "the idle connection made room")

                let busyToo = try await RawHTTP.hold(port: port, sending: Self.busyHead)
                try await Task.sleep(for: .milliseconds(100))
                let (bytes, closed) = try await RawHTTP.exchange(
                    port: port, send: RawHTTP.request("GET", "/health/live"), wait: .seconds(5))
                #expect(bytes.hasPrefix("HTTP/1.1 503") && bytes.contains("too_many_connections") && closed, "\(bytes.prefix(300))")
                #expect(bytes.lowercased().contains("x-content-type-options: nosniff"))
                #expect(busy.isActive && busyToo.isActive, "connections with a request in progress are not closed")
                try await busy.close()
                try await busyToo.close()
            }
        }

        @Test("one client address may hold only so many connections (503 beyond); a trusted proxy's address is exempt")
        func connectionCapPerAddress() async throws {
            for trusted in [false, true] {
                let (app, _) = try TestServer.application {
                    $0.server.maxConnectionsPerAddress = 2
                    $0.server.trustedProxies = trusted ? ["127.0.0.1"] : []
                }
                try await app.test(.live) { client in
                    let port = try #require(client.port)
                    let held = [try await RawHTTP.hold(port: port), try await RawHTTP.hold(port: port)]
                    try await Task.sleep(for: .milliseconds(100))
                    let (bytes, _) = try await RawHTTP.exchange(port: port, send: RawHTTP.request("GET", "/health/live"), wait: .seconds(5))
                    if trusted {
                        #expect(bytes.hasPrefix("HTTP/1.1 200"), "\(bytes.prefix(300))")
                    } else {
                        #expect(bytes.hasPrefix("HTTP/1.1 503") && bytes.contains("from your address"), "\(bytes.prefix(300))")
                    }
                    for channel in held { try await channel.close() }
                }
            }
        }
    }
}
