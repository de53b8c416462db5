import Store

/// Who is calling: the API key that authenticated the request and what it may do.
public struct Identity: Sendable, Equatable {
    public var keyID: String
    public var teamID: String
    public var scopes: Set<Scope>

    public init(key: APIKey) {
        keyID = key.id
        teamID = key.teamID
        scopes = key.scopes
    }
}
