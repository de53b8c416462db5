import AsyncHTTPClient
import NIOCore
import ServiceLifecycle
import Tracing

/// The HTTP client of every call Conduit makes to others (the LLM upstream, webhook receivers). Each
/// call is a client span and carries the W3C `traceparent` of the work that made it (AsyncHTTPClient
/// injects it with the process's tracer), so the receiver's traces join Conduit's.
///
/// A service: its connections close once what runs before it in the shutdown order (the job runner)
/// has stopped.
public final class OutboundHTTPClient: Service, Sendable {
    package let http: HTTPClient
    private let configuration: HTTPClient.Configuration

    public init() {
        var configuration = HTTPClient.Configuration()
        // Read now, after `conduit serve` bootstrapped tracing: the client keeps the tracer it was made with.
        configuration.tracing.tracer = InstrumentationSystem.tracer
        // No redirect is followed: it could send a signed event, or the upstream's key, anywhere (httpx,
        // which LiteLLM uses, does not follow them either).
        configuration.redirectConfiguration = .disallow
        self.configuration = configuration
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Runs `body` with a client of the same configuration that connects to `address` for `host`
    /// (TLS still checks `host`'s certificate): the address checked is the address used.
    package func pinning<Result>(_ host: String, to address: String, _ body: (HTTPClient) async throws -> Result) async throws -> Result {
        var configuration = configuration
        configuration.dnsOverride = [host: address]
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            let result = try await body(client)
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// A client of the same configuration that fails a call when nothing arrives for `readTimeout` (the
    /// answer's head, or the next chunk of its body), with up to `connections` connections to a host: a
    /// provider's deployment gets one of its own per event loop, whose connections live on `eventLoop`.
    /// Its owner shuts it down.
    package func makeClient(readTimeout: Duration, connections: Int, on eventLoop: any EventLoop) -> HTTPClient {
        var configuration = configuration
        configuration.timeout = .init(connect: .seconds(10), read: TimeAmount(readTimeout))
        // The default, 8, would queue a busy deployment's calls behind each other inside the client.
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
        // A connection that cannot be made fails the call at once, for the caller to try another deployment,
        // rather than being retried here until the connect timeout.
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .shared(eventLoop), configuration: configuration)
    }

    public func run() async throws {
        try? await gracefulShutdown()
        try await shutdown()
    }

    package func shutdown() async throws { try await http.shutdown() }
}
