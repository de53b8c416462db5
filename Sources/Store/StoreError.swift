/// What the store refuses, in words an operator can act on.
public enum StoreError: Error, Equatable, CustomStringConvertible {
    case invalidLocation(String)
    /// The database was migrated by a newer Conduit than this one.
    case schemaTooNew(database: Int, known: Int)
    case notFound(String)
    case conflict(String)
    case invalidValue(String)
    /// The database did not answer in time, or is known to be out of reach: try again shortly.
    case unavailable(String)

    public var description: String {
        switch self {
        case .invalidLocation(let reason): "invalid database location: \(reason)"
        case .schemaTooNew(let database, let known):
            "the database schema is at version \(database), newer than this build knows (\(known)); run a newer conduit"
        case .notFound(let what): "\(what) not found"
        case .conflict(let what): what
        case .invalidValue(let what): what
        case .unavailable(let why): "the database is unavailable: \(why)"
        }
    }
}
