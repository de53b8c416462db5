import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization
import WSCore

/// What a WebSocket does once its connection is upgraded: it reads the client's messages and writes its own.
package typealias WebSocketSession =
    @Sendable (WebSocketInboundStream, WebSocketOutboundWriter, WebSocketSessionContext) async throws -> Void

package struct WebSocketSessionContext: WebSocketContext {
    package let logger: Logger
}

/// The offer of an upgrade to a WebSocket, made to the route a handshake asks for. The connection runs
/// the request through the router as it runs any request (the same authentication, versions and limits),
/// with the offer in reach; a route that takes it answers 200 and the connection is upgraded to its
/// session. Without an offer (a plain GET, a handshake that is not the connection's first request, or
/// one with missing or wrong WebSocket headers) the route refuses with `refusal(_:)`.
package final class WebSocketUpgrade: Sendable {
    /// The offer of the handshake being routed, nil for any other request.
    @TaskLocal package static var offered: WebSocketUpgrade?

    private let accepted = Mutex<WebSocketSession?>(nil)

    init() {}

    /// Takes the offer: once the route's answer is 200, the connection becomes `session`.
    package func accept(_ session: @escaping WebSocketSession) { accepted.withLock { $0 = session } }

    var session: WebSocketSession? { accepted.withLock { $0 } }

    /// Why a WebSocket route's request was not upgraded.
    package static func refusal(_ request: Request) -> APIError {
        guard request.headers[.upgrade]?.lowercased() == "websocket" else {
            return APIError(
                status: .upgradeRequired, message: "this route speaks WebSocket: open it with a WebSocket client",
                code: "websocket_required", headers: [.upgrade: "websocket", .connection: "Upgrade"])
        }
        return APIError.invalidRequest(
            "the WebSocket handshake is not valid: it must be the first request of its connection, with Connection: Upgrade, "
                + "a Sec-WebSocket-Key and Sec-WebSocket-Version: 13",
            code: "invalid_handshake")
    }
}

/// A connection handler whose work goes on once its connection is a WebSocket, though it then leaves the
/// pipeline (the connection cap: a socket is an open connection until it closes).
package protocol UpgradeAwareHandler: AnyObject {
    /// Why the connection may not become a WebSocket, if it may not (asked on its event loop).
    func upgradeRefusal() -> APIError?
    /// The connection is becoming a WebSocket; the handler leaves the pipeline next (called on its event loop).
    func upgrading(_ channel: any Channel)
}
