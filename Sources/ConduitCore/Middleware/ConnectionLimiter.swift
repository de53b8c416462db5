import HTTPTypes
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Caps the open connections: past the cap, a new connection's first request is answered 503 with
/// `Connection: close` and the connection is closed, before any work is done for it. Each connection
/// gets its own handler; they share the count.
package final class ConnectionLimiter: ChannelDuplexHandler, RemovableChannelHandler {
    package typealias InboundIn = HTTPRequestPart
    package typealias InboundOut = HTTPRequestPart
    package typealias OutboundIn = HTTPResponsePart
    package typealias OutboundOut = HTTPResponsePart

    /// Open connections across every handler of one server.
    package final class Count: Sendable {
        package let limit: Int
        fileprivate let open = Atomic<Int>(0)
        package init(limit: Int) { self.limit = limit }
    }

    private let count: Count
    private var isCounted = false
    private var isOverLimit = false
    /// The 503 has been written: everything else the client sends on this connection is dropped.
    private var isRefused = false

    package init(count: Count) {
        self.count = count
    }

    package func handlerAdded(context: ChannelHandlerContext) {
        guard !isCounted else { return }
        isCounted = true
        isOverLimit = count.open.add(1, ordering: .relaxed).newValue > count.limit
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        release()
    }

    package func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard isOverLimit || isRefused else {
            context.fireChannelRead(data)
            return
        }
        guard !isRefused, case .head = unwrapInboundIn(data) else { return }
        isRefused = true
        let body =
            #"{"error":{"message":"the server has too many open connections; retry shortly","type":"server_error","param":null,"code":"too_many_connections"}}"#
        var head = HTTPResponse(status: .serviceUnavailable)
        head.headerFields = SecurityHeadersMiddleware.fields
        head.headerFields.append(
            contentsOf: [
                .contentType: "application/json", .cacheControl: "no-store", .connection: "close", .retryAfter: "1",
                .contentLength: String(body.utf8.count),
            ] as HTTPFields)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(context.channel.allocator.buffer(string: body))), promise: nil)
        let connection = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in connection.value.close(promise: nil) }
        release()
    }

    private func release() {
        guard isCounted else { return }
        isCounted = false
        count.open.subtract(1, ordering: .relaxed)
    }
}
