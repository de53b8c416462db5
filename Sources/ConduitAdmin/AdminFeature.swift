import ConduitCore
import Store

/// Teams, users, keys and usage reports (`/v1/admin/*`, admin scope), and users' logins
/// (`/v1/auth/*`) where access tokens are on.
public struct AdminFeature: ConduitFeature {
    let store: Database
    let prices: Live<[String: Double]>
    let accessTokens: AccessTokens?

    package init(store: Database, prices: Live<[String: Double]>, accessTokens: AccessTokens?) {
        self.store = store
        self.prices = prices
        self.accessTokens = accessTokens
    }

    public func addRoutes(to routes: FeatureRoutes, queues: any JobQueues) {
        AdminController(store: store, prices: prices).addRoutes(to: routes.requiring(.admin))
        if let accessTokens { AuthController(store: store, accessTokens: accessTokens).addRoutes(to: routes.router) }
    }
}
