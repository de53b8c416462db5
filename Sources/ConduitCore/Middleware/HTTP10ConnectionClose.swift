import NIOCore
import NIOHTTP1

/// HTTP/1.0 ends a connection with each answer unless the client asks to keep it alive. The server's
/// handlers see version-less HTTP types and close only on `Connection: close`, so such a connection was
/// held until the idle timeout. Among the additional channel handlers (after the conversion to HTTP
/// types), this one puts a rewriter before that conversion, where the version is still known, which
/// gives those requests `Connection: close`; then it steps aside.
package final class HTTP10ConnectionClose: ChannelInboundHandler, RemovableChannelHandler {
    package typealias InboundIn = NIOAny

    package init() {}

    package func handlerAdded(context: ChannelHandlerContext) {
        let pipeline = context.pipeline.syncOperations
        // Right after HTTP/1's own handlers: the pipelining assistant when there is one, else the decoder.
        let anchor: (any ChannelHandler)? =
            (try? pipeline.handler(type: HTTPServerPipelineHandler.self))
            ?? (try? pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self))
        if let anchor { try? pipeline.addHandler(Rewriter(), position: .after(anchor)) }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    /// Adds `Connection: close` to an HTTP/1.0 request that does not ask for keep-alive.
    private final class Rewriter: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias InboundOut = HTTPServerRequestPart

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .head(var head) = unwrapInboundIn(data), head.version == .http1_0, !head.isKeepAlive else {
                context.fireChannelRead(data)
                return
            }
            head.headers.replaceOrAdd(name: "connection", value: "close")
            context.fireChannelRead(wrapInboundOut(.head(head)))
        }
    }
}
