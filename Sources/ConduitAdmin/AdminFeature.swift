import ConduitCore
import Hummingbird
import Store

/// Teams, users, keys and usage reports (`/v1/admin/*`, admin scope), and users' logins
/// (`/v1/auth/*`) where access tokens are on.
package struct AdminFeature: ConduitFeature {
    let store: Database
    let prices: Live<[String: Double]>

    package init(store: Database, prices: Live<[String: Double]>) {
        self.store = store
        self.prices = prices
    }

    package static var eventTypes: [any EventPayload.Type] { TeamEvents.all + KeyEvents.all + UserEvents.all + [LimitsChanged.self] }

    package func addRoutes(to routes: FeatureRoutes, queues: any JobQueues) {
        AdminController(store: store, prices: prices).addRoutes(to: routes.requiring(.admin))
    }

    /// `/v1/auth/login|refresh|logout`. The root adds them before the request log's middleware (a route
    /// gets the middleware added before it): their bodies hold passwords and tokens, never logged.
    package static func addLoginRoutes(to router: RecordingRouter, store: Database, accessTokens: AccessTokens) {
        AuthController(store: store, accessTokens: accessTokens).addRoutes(to: router)
    }
}
