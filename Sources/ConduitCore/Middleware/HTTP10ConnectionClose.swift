import NIOCore
import NIOHTTP1

/// HTTP/1.0 ends a connection with each answer unless the client asks to keep it alive. The server's
/// handlers see version-less HTTP types and close only on `Connection: close`, so such a connection was
/// held until the idle timeout. Right after the HTTP decoder, where the version is still known, this
/// gives those requests `Connection: close` (`ConduitHTTPChannel` puts it there).
package final class HTTP10ConnectionClose: ChannelInboundHandler, RemovableChannelHandler {
    package typealias InboundIn = HTTPServerRequestPart
    package typealias InboundOut = HTTPServerRequestPart

    package init() {}

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data), head.version == .http1_0, !head.isKeepAlive else {
            context.fireChannelRead(data)
            return
        }
        head.headers.replaceOrAdd(name: "connection", value: "close")
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }
}
