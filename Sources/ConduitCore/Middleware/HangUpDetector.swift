import NIOCore
import NIOHTTPTypes

/// Notices a client that hangs up while its request is being answered, and closes the channel,
/// so the scheduler drops the request's queued work (as nginx answers 499 for it).
///
/// While a handler runs the server reads nothing more from its connection, so a hang-up would go
/// unseen until the answer is written: once a request has arrived in full this asks for one more
/// read. The server allows half-closed connections, so the end of stream arrives as `inputClosed`
/// rather than closing the channel by itself. A pipelined next request read early waits in the
/// channel's buffer as usual.
package final class HangUpDetector: ChannelInboundHandler, RemovableChannelHandler {

    package init() {}

    package typealias InboundIn = HTTPRequestPart
    package typealias InboundOut = HTTPRequestPart

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let isEnd = if case .end = unwrapInboundIn(data) { true } else { false }
        context.fireChannelRead(data)
        if isEnd { context.read() }
    }

    package func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
