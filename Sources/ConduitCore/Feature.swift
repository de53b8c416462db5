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
public protocol ConduitFeature: Sendable {
    /// The kinds of job this feature runs; the node's job runner serves them.
    var jobWorkers: [any JobWorker] { get }
    /// The topics of the events the feature records, which webhooks may subscribe to.
    var eventTopics: [String] { get }
    /// Adds the feature's routes, once the node's job queues exist.
    func addRoutes(to routes: FeatureRoutes, queues: any JobQueues)
    /// What runs as long as the node does. Services start in order and stop in reverse, after the
    /// HTTP server has stopped taking requests.
    var services: [any Service] { get }
}

extension ConduitFeature {
    public var jobWorkers: [any JobWorker] { [] }
    public var eventTopics: [String] { [] }
    public var services: [any Service] { [] }
}

/// The router a feature adds its routes to, with groups that require an API key's scope.
public struct FeatureRoutes {
    /// Routes open to every caller (health, for instance), and to any valid key.
    public let router: RecordingRouter
    let authentication: Bool

    public init(router: RecordingRouter, authentication: Bool) {
        self.router = router
        self.authentication = authentication
    }

    /// A group whose routes need `scope` of the caller's key; with `nil`, any valid key (with
    /// authentication off, anyone).
    public func requiring(_ scope: Scope?) -> RouterGroup<ConduitRequestContext> {
        let group = router.group()
        if let scope { group.add(middleware: RequireScope(scope: scope, authentication: authentication)) }
        return group
    }
}

/// What a feature needs of the node's job runner when it submits durable work.
public protocol JobQueues: Sendable {
    /// Whether this node runs the jobs of `queue` (a submission for another queue would wait forever).
    func serves(_ queue: String) -> Bool
    /// Tells the workers of `queue`, on every node, that a job is waiting.
    func wake(_ queue: String)
    /// Most jobs a team may have waiting in one queue.
    var maxWaitingPerTeam: Int { get }
}
