import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket
@_spi(WSInternal) import WSCore

/// The server's connections: HTTP/1.1, whose first request may turn the connection into a WebSocket
/// where a route takes the offer (`WebSocketUpgrade`).
///
/// Hummingbird's own WebSocket channel adds the handlers a connection needs (the connection cap, the
/// idle timeout, the hang-up detector) only once the first request is known not to be an upgrade, so a
/// connection that never sends a request would escape them, and it answers a refused upgrade with an
/// empty 400. Here those handlers are there from the first byte and leave only when the connection
/// becomes a WebSocket; a refused upgrade is served by the router like any request, so its answer is the
/// route's own error (401, 429…), and a request to another route that merely carries `Upgrade` is served; and a request that is not HTTP is answered in the API's error shape
/// (`ParseErrorResponder`).
package struct ConduitHTTPChannel: ServerChildChannel, HTTPChannelHandler {
    package struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<Negotiated>
        package let channel: any Channel
    }

    enum Negotiated: Sendable {
        case http(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        /// The first request asked for an upgrade that was not made: NIO does not pass such a request on,
        /// so it is answered here, and the connection closed.
        case refusedUpgrade(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, HTTPRequestHead)
        /// The connection itself is refused (over the connection cap) while its first request is a handshake.
        case refusedConnection(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, APIError)
        case webSocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, WebSocketSession)
    }

    /// Routes a handshake as the router routes any request.
    package typealias Route = @Sendable (Request, ConduitRequestContext) async throws -> Response

    package let responder: HTTPChannelHandler.Responder
    let route: Route
    /// The paths whose handshakes are offered an upgrade; any other is served as plain HTTP.
    let webSocketPaths: Set<String>
    let additionalChannelHandlers: @Sendable () -> [any RemovableChannelHandler]
    let idleTimeout: Duration?

    package init(
        responder: @escaping HTTPChannelHandler.Responder, route: @escaping Route, webSocketPaths: Set<String>,
        additionalChannelHandlers: @escaping @Sendable () -> [any RemovableChannelHandler], idleTimeout: Duration?
    ) {
        self.responder = responder
        self.route = route
        self.webSocketPaths = webSocketPaths
        self.additionalChannelHandlers = additionalChannelHandlers
        self.idleTimeout = idleTimeout
    }

    package func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let sync = channel.pipeline.syncOperations
            // Between the decoder and the upgrade handler, where requests are still NIO's HTTP/1 parts.
            let upgradeAsked = UpgradeRequestRecorder()
            let http1Handlers: [any RemovableChannelHandler] = [upgradeAsked, ParseErrorResponder(), HTTP10ConnectionClose()]
            let httpHandlers: [any RemovableChannelHandler] =
                [HTTP1ToHTTPServerCodec(secure: false)] + additionalChannelHandlers()
                + [HTTPConnectionStateHandler(idleTimeout: idleTimeout, logger: logger)]
            let accepted = NIOLoopBoundBox<WebSocketSession?>(nil, eventLoop: channel.eventLoop)
            let upgradeAware = NIOLoopBound(httpHandlers.compactMap { $0 as? any UpgradeAwareHandler }, eventLoop: channel.eventLoop)
            let connectionRefused = NIOLoopBoundBox<APIError?>(nil, eventLoop: channel.eventLoop)
            let upgrader = NIOTypedWebSocketServerUpgrader<Negotiated>(
                maxFrameSize: Self.maxFrameSize,
                shouldUpgrade: { channel, head in
                    if let refusal = upgradeAware.value.lazy.compactMap({ $0.upgradeRefusal() }).first {
                        connectionRefused.value = refusal
                        return channel.eventLoop.makeSucceededFuture(nil)
                    }
                    return offer(head, on: channel, logger: logger).map { answer in
                        guard let (headers, session) = answer else { return nil }
                        accepted.value = session
                        // The request is read whole: what comes next is WebSocket frames, which those handlers cannot read.
                        for handler in http1Handlers { _ = channel.pipeline.syncOperations.removeHandler(handler) }
                        return headers
                    }
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        for handler in upgradeAware.value { handler.upgrading(channel) }
                        for handler in httpHandlers { _ = channel.pipeline.syncOperations.removeHandler(handler) }
                        guard let session = accepted.value else { throw NIOWebSocketUpgradeError.unsupportedWebSocketTarget }
                        return .webSocket(
                            try NIOAsyncChannel(
                                wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true)),
                            session)
                    }
                })
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration<Negotiated>(
                upgradeConfiguration: .init(
                    upgraders: [upgrader],
                    notUpgradingCompletionHandler: { channel in
                        channel.eventLoop.makeCompletedFuture {
                            let http = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                                wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                            if let refusal = connectionRefused.value { return .refusedConnection(http, refusal) }
                            return upgradeAsked.head.map { .refusedUpgrade(http, $0) } ?? .http(http)
                        }
                    }))
            configuration.enablePipelining = false  // Hummingbird reads one request at a time
            configuration.enableErrorHandling = false  // ParseErrorResponder's
            configuration.enableResponseHeaderValidation = false  // HTTP types validate them
            let negotiated = try sync.configureUpgradableHTTPServerPipeline(configuration: configuration)
            try sync.addHandlers(http1Handlers, position: .after(try sync.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)))
            try sync.addHandlers(httpHandlers)
            return Value(negotiated: negotiated, channel: channel)
        }
    }

    package func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.negotiated.get() {
            case .http(let http):
                await handleHTTP(asyncChannel: http, logger: logger)
            case .refusedUpgrade(let http, let head):
                // The router answers it as a plain request: a WebSocket route with its refusal (401, 429, an invalid
                // handshake), any other route as it would without the Upgrade header.
                let request = Request(head: try HTTPRequest(head, secure: false, splitCookie: false), body: .init(buffer: ByteBuffer()))
                try await http.executeThenClose { _, outbound in
                    try await responder(request, ResponseWriter(outbound: outbound), http.channel)
                }
            case .refusedConnection(let http, let refusal):
                let (head, body) = refusal.closingAnswer()
                try await http.executeThenClose { _, outbound in
                    try await outbound.write(contentsOf: [.head(head), .body(ByteBuffer(bytes: body)), .end(nil)])
                }
            case .webSocket(let webSocket, let session):
                _ = try await WebSocketHandler.handle(
                    type: .server,
                    configuration: .init(
                        extensions: [], autoPing: .enabled(timePeriod: Self.pingInterval), closeTimeout: Self.closeTimeout,
                        validateUTF8: true, maxFrameSize: Self.maxFrameSize),
                    asyncChannel: webSocket, context: WebSocketSessionContext(logger: logger), handler: session)
            }
        } catch {
            logger.debug("connection ended", metadata: ["error": "\(error)"])
        }
    }

    /// Notes the connection's first request head when it asks for an upgrade, then steps aside.
    private final class UpgradeRequestRecorder: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias InboundOut = HTTPServerRequestPart
        private(set) var head: HTTPRequestHead?

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .head(let head) = unwrapInboundIn(data) else { return context.fireChannelRead(data) }
            if head.headers.contains(name: "upgrade") { self.head = head }
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }

    /// Runs a handshake for one of `webSocketPaths` through the router with an upgrade on offer: the
    /// headers of the route's 200 and its session when the route took it, nil otherwise (the request is
    /// then served again as a plain request, `Negotiated.refusedUpgrade`, where the route answers with its refusal).
    private func offer(_ head: HTTPRequestHead, on channel: any Channel, logger: Logger) -> EventLoopFuture<
        (HTTPHeaders, WebSocketSession)?
    > {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        guard head.method == .GET, webSocketPaths.contains(path) else { return channel.eventLoop.makeSucceededFuture(nil) }
        let promise = channel.eventLoop.makePromise(of: (HTTPHeaders, WebSocketSession)?.self)
        promise.completeWithTask {
            let offer = WebSocketUpgrade()
            let request = Request(head: try HTTPRequest(head, secure: false, splitCookie: false), body: .init(buffer: ByteBuffer()))
            let context = ConduitRequestContext(source: .init(channel: channel, logger: logger))
            guard let response = try? await WebSocketUpgrade.$offered.withValue(offer, operation: { try await route(request, context) }),
                response.status == .ok, let session = offer.session
            else { return nil }
            var headers = HTTPHeaders()
            for field in response.headers where field.name != .contentLength && field.name != .contentType {
                headers.add(name: field.name.rawName, value: field.value)
            }
            return (headers, session)
        }
        return promise.futureResult
    }

    static let maxFrameSize = 1 << 16
    /// Pings a quiet WebSocket this often; a client that does not answer is disconnected.
    static let pingInterval: Duration = .seconds(30)
    /// How long a closing socket waits for the client's close frame: a client that simply went away sends none,
    /// and its connection (counted against the caps) is let go after this.
    static let closeTimeout: Duration = .seconds(3)
}

extension HTTPServerBuilder {
    /// Conduit's connections (`ConduitHTTPChannel`).
    package static func conduit(
        route: @escaping ConduitHTTPChannel.Route, webSocketPaths: Set<String>,
        additionalChannelHandlers: @escaping @Sendable () -> [any RemovableChannelHandler], idleTimeout: Duration?
    ) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            ConduitHTTPChannel(
                responder: responder, route: route, webSocketPaths: webSocketPaths, additionalChannelHandlers: additionalChannelHandlers,
                idleTimeout: idleTimeout)
        }
    }
}
