import Store

/// Who is calling: an API key, or a user with an access token; what they may do; and the limits
/// that apply (the key's and its team's, or the user's team's).
public struct Identity: Sendable, Equatable {
    public var keyID: String?
    public var teamID: String
    public var scopes: Set<Scope>
    public var keyLimits: Limits
    public var teamLimits: Limits
    /// The API version the key is pinned to (nil: the latest; a user's calls always get the latest).
    public var apiVersion: String?
    /// The user whose access token this is; nil for a key.
    public var userID: String?

    /// Who holds the credentials: the key, or the user (`key:…`, `user:…`).
    package var holder: String? { keyID.map { "key:" + $0 } ?? userID.map { "user:" + $0 } }

    public init(key: APIKey, teamLimits: Limits) {
        keyID = key.id
        teamID = key.teamID
        scopes = key.scopes
        keyLimits = key.limits
        self.teamLimits = teamLimits
        apiVersion = key.apiVersion
    }

    public init(user: User, teamLimits: Limits) {
        userID = user.id
        teamID = user.teamID
        scopes = user.role.scopes
        keyLimits = .none
        self.teamLimits = teamLimits
    }

    /// Whose limits work done for a key or a team counts against, outside any request (a job's).
    package init(teamID: String, keyID: String?, keyLimits: Limits, teamLimits: Limits) {
        self.teamID = teamID
        self.keyID = keyID
        scopes = []
        self.keyLimits = keyLimits
        self.teamLimits = teamLimits
    }

    /// Every window the key's and the team's limits set.
    public var rateWindows: [RateWindow] {
        (keyID.map { RateWindow.windows(for: "key:" + $0, keyLimits) } ?? []) + RateWindow.windows(for: "team:" + teamID, teamLimits)
    }

    /// The monthly budgets in US dollars of the key and of its team.
    public var budgetWindows: [RateWindow] {
        (keyID.map { RateWindow.budgetWindows(for: "key:" + $0, keyLimits) } ?? [])
            + RateWindow.budgetWindows(for: "team:" + teamID, teamLimits)
    }

    /// Whose work a request is, for fair queueing: the key, or the team of a user.
    package var tenant: String { keyID ?? "team:" + teamID }
}
