import Hummingbird
import ServiceLifecycle
import Store

/// A capability a node may run: its routes, the kinds of job it works on, and what it keeps running.
///
/// The composition root (`Conduit`) decides which features a node runs and wires each to what it
/// shares with the others (the store, the job queues, usage and limits); a feature knows nothing of
/// the others unless it imports one on purpose (the arrows `scripts/check-layers` enforces). A new
/// feature is a module with a type conforming to this protocol, added to the root's list:
///
/// ```swift
/// struct GreetingFeature: ConduitFeature {
///     func addRoutes(to routes: FeatureRoutes, queues: any JobQueues) {
///         routes.requiring(.chat).get("/v1/hello") { _, _ in "hello" }
///     }
/// }
/// ```
package protocol ConduitFeature: Sendable {
    /// The kinds of job this feature runs; the node's job runner serves them.
    var jobWorkers: [any JobWorker] { get }
    /// The types of the events the feature records (the catalogue), which webhooks and streams may ask
    /// for. A type's, not a running feature's: a node that delivers events takes subscriptions to events
    /// that other nodes, running other features, record.
    static var eventTypes: [any EventPayload.Type] { get }
    /// Adds the feature's routes, once the node's job queues exist.
    func addRoutes(to routes: FeatureRoutes, queues: any JobQueues)
    /// What runs as long as the node does. Services start in order and stop in reverse, after the
    /// HTTP server has stopped taking requests.
    var services: [any Service] { get }
    /// The models the feature serves now, for `GET /v1/models` (read at each request: a reload may change them).
    var models: [ListedModel] { get }
    /// The paths of its routes that speak WebSocket (`GET`, taking `WebSocketUpgrade.offered`): only their
    /// handshakes are offered an upgrade.
    var webSocketPaths: [String] { get }
    /// The work a WebSocket client may start on the event socket (a chat turn).
    var socketOperations: [any SocketOperation] { get }
}

extension ConduitFeature {
    package var jobWorkers: [any JobWorker] { [] }
    package static var eventTypes: [any EventPayload.Type] { [] }
    package var services: [any Service] { [] }
    package var models: [ListedModel] { [] }
    package var webSocketPaths: [String] { [] }
    package var socketOperations: [any SocketOperation] { [] }
}

/// The router a feature adds its routes to, with groups that require an API key's scope.
package struct FeatureRoutes {
    /// The application's router: only the core adds to it directly (middleware added here would
    /// apply to the routes added after it, not before); features add routes to `requiring(_:)` groups.
    let router: RecordingRouter
    let authentication: Bool

    package init(router: RecordingRouter, authentication: Bool) {
        self.router = router
        self.authentication = authentication
    }

    /// A group whose routes need `scope` of the caller's key; with `nil`, any valid key (with
    /// authentication off, anyone).
    package func requiring(_ scope: Scope?) -> RouterGroup<ConduitRequestContext> {
        let group = router.group()
        if let scope { group.add(middleware: RequireScope(scope: scope, authentication: authentication)) }
        return group
    }
}

/// What a feature needs of the node's job runner when it submits durable work.
package protocol JobQueues: Sendable {
    /// Whether this node runs the jobs of `queue` (a submission for another queue would wait forever).
    func serves(_ queue: String) -> Bool
    /// Wakes this node's workers of `queue` at once; other nodes hear of the job through the store
    /// (PostgreSQL's NOTIFY in the job's transaction), or at their next poll.
    func wake(_ queue: String)
    /// Most jobs a team may have waiting in one queue.
    var maxWaitingPerTeam: Int { get }
}
