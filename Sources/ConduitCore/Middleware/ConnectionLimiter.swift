import HTTPTypes
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Caps the open connections, in all and per client address: past a cap, a new connection's first
/// request is answered 503 with `Connection: close` and the connection is closed, before any work is
/// done for it. When the server is full, a connection with no request in progress (idle keep-alive, or
/// nothing sent yet) is closed to make room first, so that one client's idle connections cannot shut
/// out the rest. Trusted proxies, which carry many clients, are exempt from the per-address cap. Each
/// connection gets its own handler; they share the count.
package final class ConnectionLimiter: ChannelDuplexHandler, RemovableChannelHandler {
    package typealias InboundIn = HTTPRequestPart
    package typealias InboundOut = HTTPRequestPart
    package typealias OutboundIn = HTTPResponsePart
    package typealias OutboundOut = HTTPResponsePart

    /// Open connections across every handler of one server.
    package final class Count: Sendable {
        package let limit: Int
        package let perAddress: Int
        package let trustedProxies: TrustedProxies
        fileprivate let open = Atomic<Int>(0)
        fileprivate let byAddress = Mutex<[String: Int]>([:])
        /// Connections with no request in progress, oldest idle first, each with how to close it: the first to
        /// go when the server is full.
        fileprivate let idle = Mutex<[(id: ObjectIdentifier, close: @Sendable () -> Void)]>([])

        package init(limit: Int, perAddress: Int = .max, trustedProxies: TrustedProxies = TrustedProxies([])!) {
            self.limit = limit
            self.perAddress = perAddress
            self.trustedProxies = trustedProxies
        }

        /// Counts a connection from `address`; whether that took its address past its cap.
        fileprivate func add(from address: String) -> Bool {
            guard !trustedProxies.contains(address) else { return false }
            return byAddress.withLock { counts in
                counts[address, default: 0] += 1
                return counts[address]! > perAddress
            }
        }

        fileprivate func remove(from address: String) {
            guard !trustedProxies.contains(address) else { return }
            byAddress.withLock { counts in
                let left = counts[address, default: 1] - 1
                counts[address] = left > 0 ? left : nil
            }
        }

        fileprivate func markIdle(_ id: ObjectIdentifier, close: @escaping @Sendable () -> Void) {
            idle.withLock { idle in
                idle.removeAll { $0.id == id }
                idle.append((id, close))
            }
        }

        fileprivate func markBusy(_ id: ObjectIdentifier) { idle.withLock { $0.removeAll { $0.id == id } } }

        /// Closes the connection idle longest, other than `keeping`; whether there was one.
        fileprivate func evictIdle(keeping id: ObjectIdentifier) -> Bool {
            let evicted = idle.withLock { idle -> (@Sendable () -> Void)? in
                guard let index = idle.firstIndex(where: { $0.id != id }) else { return nil }
                return idle.remove(at: index).close
            }
            evicted?()
            return evicted != nil
        }
    }

    private let count: Count
    private var isCounted = false
    /// The connection became a WebSocket: the handler has left the pipeline, the count stays until it closes.
    private var outlivesPipeline = false
    private var address: String?
    private var refusal: String?
    /// The 503 has been written: everything else the client sends on this connection is dropped.
    private var isRefused = false
    /// No request in progress, and how many are (read and written on the connection's event loop).
    private var isIdle = false
    private var requestsInProgress = 0

    package init(count: Count) {
        self.count = count
    }

    package func handlerAdded(context: ChannelHandlerContext) {
        guard !isCounted else { return }
        isCounted = true
        let id = ObjectIdentifier(self)
        if let address = context.channel.remoteAddress?.ipAddress {
            self.address = address
            if count.add(from: address) { refusal = "too many open connections from your address; close some, or retry shortly" }
        }
        // A connection refused already (its address is at its cap) must not close another client's to make room.
        if count.open.add(1, ordering: .relaxed).newValue > count.limit, refusal != nil || !count.evictIdle(keeping: id) {
            refusal = refusal ?? "the server has too many open connections; retry shortly"
        }
        // Nothing sent yet: idle until the first request head. A refused connection too, so that one that never
        // asks for its 503 can still be closed to make room.
        becomeIdle(context: context)
    }

    /// Marks the connection as one that may be closed to make room. The close runs on its own event loop, and
    /// only if it is still idle there: a request that has just arrived is not cut off.
    private func becomeIdle(context: ChannelHandlerContext) {
        isIdle = true
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let connection = NIOLoopBound(context, eventLoop: context.eventLoop)
        let loop = context.eventLoop
        count.markIdle(ObjectIdentifier(self)) {
            loop.execute { if handler.value.isIdle { connection.value.close(promise: nil) } }
        }
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        // A connection become a WebSocket stays counted until it closes (`upgrading`).
        if !outlivesPipeline { release() }
    }

    package func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let refusal else {
            if case .head = unwrapInboundIn(data) {
                isIdle = false
                requestsInProgress += 1
                count.markBusy(ObjectIdentifier(self))
            }
            context.fireChannelRead(data)
            return
        }
        guard !isRefused, case .head = unwrapInboundIn(data) else { return }
        isRefused = true
        let (head, body) = Self.refused(refusal).closingAnswer()
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(context.channel.allocator.buffer(bytes: body))), promise: nil)
        let connection = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in connection.value.close(promise: nil) }
        release()
    }

    package func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // An answer written out in full: the connection waits for its next request, and may be closed to make room.
        guard refusal == nil, isCounted, case .end = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        requestsInProgress = max(0, requestsInProgress - 1)
        let written = promise ?? context.eventLoop.makePromise(of: Void.self)
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let connection = NIOLoopBound(context, eventLoop: context.eventLoop)
        written.futureResult.whenSuccess {
            if handler.value.isCounted && handler.value.requestsInProgress == 0 { handler.value.becomeIdle(context: connection.value) }
        }
        context.write(data, promise: written)
    }

    private func release() {
        guard isCounted else { return }
        isCounted = false
        count.open.subtract(1, ordering: .relaxed)
        if let address { count.remove(from: address) }
        count.markBusy(ObjectIdentifier(self))
    }
}

extension ConnectionLimiter: UpgradeAwareHandler {
    /// A connection over the cap whose first request is a handshake is refused as any other request would be.
    package func upgradeRefusal() -> APIError? { refusal.map(Self.refused) }

    private static func refused(_ message: String) -> APIError {
        APIError(
            status: .serviceUnavailable, message: message, type: "server_error", code: "too_many_connections", headers: [.retryAfter: "1"])
    }

    /// A WebSocket counts as an open connection, and is never closed to make room as an idle one would be.
    package func upgrading(_ channel: any Channel) {
        outlivesPipeline = true
        count.markBusy(ObjectIdentifier(self))
        let handler = NIOLoopBound(self, eventLoop: channel.eventLoop)
        channel.closeFuture.whenComplete { _ in handler.value.release() }
    }
}
