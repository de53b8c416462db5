import ConduitTestSupport
import Foundation
import NIOCore
import NIOPosix

@testable import ConduitCore

/// HTTP spoken by hand over a fresh TCP connection, for what a client library would hide: a head
/// left unfinished, a connection held open, a server in another process.
enum RawHTTP {
    /// Writes `send` on a new connection to `port`, then gathers what the server sends back until it
    /// closes the connection or `wait` passes.
    static func exchange(port: Int, send: String, wait: Duration) async throws -> (bytes: String, closed: Bool) {
        let collector = Collector()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collector) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        try await channel.writeAndFlush(ByteBuffer(string: send))
        try await eventually(within: wait) { !channel.isActive }
        let closed = !channel.isActive
        if !closed { try? await channel.close() }
        return (collector.text, closed)
    }

    /// A connection to `port` held open, with `send` written on it: for what a client holds (a slow head, a
    /// WebSocket after its handshake) until the test closes it.
    static func hold(port: Int, sending send: String = "") async throws -> any Channel {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get()
        if !send.isEmpty { try await channel.writeAndFlush(ByteBuffer(string: send)) }
        return channel
    }

    /// A complete request that asks the server to close the connection after answering.
    /// The value of the header `name` in a raw answer.
    static func header(_ name: String, in answer: String) -> String? {
        answer.split(separator: "\r\n").first { $0.lowercased().hasPrefix(name.lowercased() + ":") }
            .map { $0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces) }
    }

    static func request(_ method: String, _ path: String, headers: [String: String] = [:], body: String? = nil) -> String {
        var lines = ["\(method) \(path) HTTP/1.1", "Host: localhost", "Connection: close"]
        lines += headers.map { "\($0): \($1)" }
        if let body {
            if !headers.keys.contains(where: { $0.lowercased() == "content-type" }) { lines.append("Content-Type: application/json") }
            lines.append("Content-Length: \(body.utf8.count)")
        }
        return lines.joined(separator: "\r\n") + "\r\n\r\n" + (body ?? "")
    }
}

/// Gathers what a raw connection receives.
private final class Collector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    // @unchecked: written on the channel's event loop, read after the channel is done.
    private var received = ""
    var text: String { received }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received += String(buffer: unwrapInboundIn(data))
    }
}
