import Hummingbird
import Logging
import NIOCore
import Synchronization

/// What a handler knows about the request beyond the request itself.
public struct ConduitRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connection the request came on, so a handler can notice when its client has gone.
    public let channel: any Channel
    /// The caller's `x-request-id`, or one generated for this request; echoed on the response.
    public var requestID: String = ""
    /// The authenticated caller; nil when authentication is off.
    public var identity: Identity? {
        didSet { caller.set(identity) }
    }
    /// Who called, for the access log line written by the outermost middleware: the context is a
    /// value, and what inner middleware sets on its copy does not flow back out; this box does.
    package let caller = CallerBox()
    /// The client's IP address: the peer's, or behind trusted proxies the one they forwarded (`ClientAddressMiddleware`).
    package var clientAddress: String?
    /// The version the client asked for with `Conduit-Version` (checked by `APIVersionSelection`).
    package var requestedVersion: String?
    /// The single-use ticket the caller was authenticated by (`APIKeyAuthenticator.ticketPaths`): the
    /// route spends it once it accepts the request (a WebSocket's upgrade, a stream's start), so a
    /// refused one leaves it usable.
    package var ticket: String?

    /// The API version this request is served as: the one it asked for, else its key's, else the latest.
    package var apiVersion: String { requestedVersion ?? identity?.apiVersion ?? APIVersions.current.latest }

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// The caller of one request, shared by every copy of its context.
package final class CallerBox: Sendable {
    private let metadata = Mutex<Logger.Metadata>([:])

    package func set(_ identity: Identity?) {
        pinned.withLock { $0 = identity?.apiVersion }
        metadata.withLock { metadata in
            metadata = [:]
            guard let identity else { return }
            metadata["team"] = .string(identity.teamID)
            if let keyID = identity.keyID { metadata["key_id"] = .string(keyID) }
        }
    }

    package var logMetadata: Logger.Metadata { metadata.withLock { $0 } }

    private let pinned = Mutex<String?>(nil)
    /// The API version the caller's key is pinned to.
    package var pinnedVersion: String? { pinned.withLock { $0 } }
}
