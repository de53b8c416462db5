import Hummingbird
import NIOCore

/// What a handler knows about the request beyond the request itself.
public struct ConduitRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connection the request came on, so a handler can notice when its client has gone.
    public let channel: any Channel
    /// The caller's `x-request-id`, or one generated for this request; echoed on the response.
    public var requestID: String = ""
    /// The authenticated caller; nil when authentication is off.
    public var identity: Identity?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
