import HTTPTypes
import Hummingbird
import Synchronization

/// Every route an application serves, as `METHOD /path/{parameter}`: what the OpenAPI document must
/// describe, no more and no less (a test holds them together).
public final class RouteTable: Sendable {
    private let entries = Mutex<[String]>([])

    public init() {}

    /// `GET /v1/jobs/{id}` and the like, in the order they were added.
    public var routes: [String] { entries.withLock { $0 } }

    func add(_ method: HTTPRequest.Method, _ path: RouterPath) {
        entries.withLock { $0.append("\(method.rawValue) \(path.description)") }
    }

    /// The methods served at `path` (a concrete path, as a client sends it), in the order they were added.
    package func methods(at path: String) -> [String] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        return routes.compactMap { route in
            let parts = route.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, Self.matches(segments, parts[1].split(separator: "/", omittingEmptySubsequences: true)) else {
                return nil
            }
            return String(parts[0])
        }
    }

    /// Whether a path's segments fit a route's template: `{name}` and `*` take one segment, `**` the rest.
    private static func matches(_ segments: [Substring], _ template: [Substring]) -> Bool {
        var index = 0
        for part in template {
            if part == "**" { return index < segments.count }
            guard index < segments.count else { return false }
            if !(part == "*" || (part.hasPrefix("{") && part.hasSuffix("}")) || part == segments[index]) { return false }
            index += 1
        }
        return index == segments.count
    }
}

/// The application's router, noting each route in a `RouteTable` as it is added. Groups made from it
/// (`group()`, `FeatureRoutes.requiring(_:)`) add their routes through it, so every route is noted.
package struct RecordingRouter: RouterMethods {
    package typealias Context = ConduitRequestContext

    let router: Router<ConduitRequestContext>
    let table: RouteTable

    package init(_ router: Router<ConduitRequestContext>, table: RouteTable) {
        self.router = router
        self.table = table
    }

    @discardableResult package func on<Responder: HTTPResponder>(
        _ path: RouterPath, method: HTTPRequest.Method, responder: Responder
    ) -> Self where Responder.Context == Context {
        table.add(method, path)
        router.on(path, method: method, responder: responder)
        return self
    }

    @discardableResult package func add(middleware: any MiddlewareProtocol<Request, Response, Context>) -> Self {
        router.add(middleware: middleware)
        return self
    }
}
