import Store

/// Who is calling: the API key that authenticated the request, what it may do, and the limits of
/// the key and of its team.
public struct Identity: Sendable, Equatable {
    public var keyID: String
    public var teamID: String
    public var scopes: Set<Scope>
    public var keyLimits: Limits
    public var teamLimits: Limits

    public init(key: APIKey, team: Team?) {
        keyID = key.id
        teamID = key.teamID
        scopes = key.scopes
        keyLimits = key.limits
        teamLimits = team?.limits ?? .none
    }

    /// Every window the key's and the team's limits set.
    public var rateWindows: [RateWindow] {
        RateWindow.windows(for: "key:" + keyID, keyLimits) + RateWindow.windows(for: "team:" + teamID, teamLimits)
    }
}
