import Foundation

/// Where Conduit keeps its data: an SQLite file (the default, for one node) or a PostgreSQL server
/// (for several nodes sharing one state).
public enum DatabaseLocation: Sendable, Equatable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(url: String)

    /// The file `conduit.sqlite` in `dataDirectory`.
    public static func defaultSQLite(in dataDirectory: URL) -> DatabaseLocation {
        .sqlite(path: dataDirectory.appending(path: "conduit.sqlite").path)
    }

    /// `postgres://…` or `postgresql://…` for PostgreSQL; `sqlite:PATH`, `sqlite://PATH` or a plain path for SQLite.
    public init(_ value: String) throws {
        if value.hasPrefix("postgres://") || value.hasPrefix("postgresql://") {
            guard URLComponents(string: value)?.host?.isEmpty == false else {
                throw StoreError.invalidLocation("a PostgreSQL URL needs a host, as in postgres://user@host:5432/database")
            }
            self = .postgres(url: value)
        } else if value.hasPrefix("sqlite://") {
            self = .sqlite(path: String(value.dropFirst("sqlite://".count)))
        } else if value.hasPrefix("sqlite:") {
            self = .sqlite(path: String(value.dropFirst("sqlite:".count)))
        } else if value.contains("://") {
            throw StoreError.invalidLocation("unsupported database URL scheme; use postgres://… or an SQLite file path")
        } else {
            self = .sqlite(path: value)
        }
        if case .sqlite(let path) = self, path.isEmpty {
            throw StoreError.invalidLocation("an SQLite location needs a file path")
        }
    }

    /// The location with any password replaced, fit for logs and error messages.
    public var description: String {
        switch self {
        case .sqlite(let path): return "sqlite:\(path)"
        case .postgres(let url):
            guard var components = URLComponents(string: url) else { return "postgres://(unparsable URL)" }
            if components.password != nil { components.password = "REDACTED" }
            return components.string ?? "postgres://(unparsable URL)"
        }
    }
}
