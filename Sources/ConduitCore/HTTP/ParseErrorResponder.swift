import HTTPTypes
import NIOCore
import NIOHTTP1

/// Answers a request that is not valid HTTP/1.1 in the API's one error shape, before the connection
/// closes: a client (or the person reading its logs) learns what was wrong with what it sent, where the
/// server framework writes an empty 400. Sits right after the HTTP decoder, where its errors surface.
/// When the bad request came while an earlier one on the connection is still being answered (pipelined),
/// the refusal waits for that answer to be written, then follows it; an error in the body of the request
/// being read is that request's handler's to answer (it is thrown where the body is read).
package final class ParseErrorResponder: ChannelDuplexHandler, RemovableChannelHandler {
    package typealias InboundIn = HTTPServerRequestPart
    package typealias InboundOut = HTTPServerRequestPart
    package typealias OutboundIn = HTTPServerResponsePart
    package typealias OutboundOut = HTTPServerResponsePart

    /// Requests read whose answers are not written out yet.
    private var inProgress = 0
    /// A request's head was read and its end not yet: an error now is in its body, the handler's to answer.
    private var receiving = false
    /// A parse error held until the answers in progress are written.
    private var pending: HTTPParserError?

    package init() {}

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            inProgress += 1
            receiving = true
        case .end: receiving = false
        case .body: break
        }
        context.fireChannelRead(data)
    }

    package func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else { return context.write(data, promise: promise) }
        inProgress = max(0, inProgress - 1)
        context.write(data, promise: promise)
        if inProgress == 0, let error = pending {
            pending = nil
            refuse(error, context: context)
        }
    }

    package func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let error = error as? HTTPParserError, !receiving else { return context.fireErrorCaught(error) }
        // The decoder has read nothing past the bad bytes: the connection ends with the refusal, after the answers owed.
        if inProgress > 0 { pending = error } else { refuse(error, context: context) }
    }

    private func refuse(_ error: HTTPParserError, context: ChannelHandlerContext) {
        let (head, body) = Self.refusal(error).closingAnswer()
        let headers = HTTPHeaders(head.headerFields.map { ($0.name.rawName, $0.value) })
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: head.status.code), headers: headers))),
            promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        let connection = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in connection.value.close(promise: nil) }
    }

    /// What the client is told: what the parser found, in words (the parser's own names mean little
    /// to someone who did not write it).
    static func refusal(_ error: HTTPParserError) -> APIError {
        let problem: String
        switch error {
        case .headerOverflow:
            return APIError(
                status: .requestHeaderFieldsTooLarge, message: "the request's headers are too large", code: "headers_too_large")
        case .invalidMethod: problem = "its method is not a valid HTTP method"
        case .invalidURL, .invalidPath, .invalidQueryString, .invalidFragment, .invalidHost, .invalidPort:
            problem = "its target is not a valid URL path"
        case .invalidVersion: problem = "its HTTP version is not valid (HTTP/1.0 and HTTP/1.1 are served)"
        case .invalidHeaderToken: problem = "a header's name or value holds characters HTTP does not allow"
        case .invalidContentLength, .unexpectedContentLength:
            problem = "its Content-Length is not valid, or does not fit the request"
        case .invalidChunkSize: problem = "a chunk of its body has an invalid size"
        case .invalidCharactersUsed: problem = "it holds characters HTTP does not allow"
        case .lfExpected, .strictModeAssertion, .invalidConstant: problem = "its lines are not terminated as HTTP requires (CRLF)"
        default: problem = "it could not be parsed (\(error))"
        }
        return APIError.invalidRequest("the request is not valid HTTP/1.1: \(problem)", code: "malformed_request")
    }
}
