import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import ConduitCore

@Suite("Event loop affinity")
struct EventLoopAffinityTests {
    /// Whether a handler, after awaiting, still runs on its connection's event loop.
    static func runsOnItsLoop(withAffinity: Bool) async throws -> String {
        let router = Router(context: ConduitRequestContext.self)
        if withAffinity { router.add(middleware: EventLoopAffinity()) }
        router.get("/where") { _, context -> String in
            try await Task.sleep(for: .milliseconds(2))
            await Task.yield()
            return "\(context.channel.eventLoop.inEventLoop)"
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        return try await app.test(.live) { client in String(buffer: try await client.execute(uri: "/where", method: .get).body) }
    }

    @Test("a request is handled on its connection's event loop across its awaits, where it would otherwise resume on the task pool")
    func handlerStaysOnItsLoop() async throws {
        #expect(try await Self.runsOnItsLoop(withAffinity: true) == "true")
        #expect(try await Self.runsOnItsLoop(withAffinity: false) == "false")
    }
}
