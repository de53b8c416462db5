import Foundation

/// The API's dated versions and what is deprecated in them (docs/api-versioning.md is the policy). A
/// client names the version it was written for with `Conduit-Version: 2026-12-01`; a key is pinned to the
/// version current when it was made, so that a client that names none keeps the behaviour it was built
/// against when a later version changes something.
package struct APIVersions: Sendable {
    package struct Version: Sendable, Equatable {
        /// `YYYY-MM-DD`, the day it was released.
        package var date: String
        /// What changed in it.
        package var summary: String
        /// When it stops being served (seconds since 1970), once it is deprecated.
        package var sunset: Int64?
    }

    /// A route deprecated: answered with `Deprecation` (RFC 9745), `Sunset` (RFC 8594) and a `Link` to the
    /// notes (`rel="deprecation"`), until it goes.
    package struct Deprecation: Sendable, Equatable {
        /// When it was deprecated, seconds since 1970.
        package var since: Int64
        package var sunset: Int64?
        /// Where the notes say what replaces it.
        package var link: String
    }

    /// Oldest first.
    package let versions: [Version]
    /// By route, as `METHOD /path/{parameter}`.
    package let deprecations: [String: Deprecation]

    package init(versions: [Version], deprecations: [String: Deprecation] = [:]) {
        precondition(!versions.isEmpty, "an API has a version")
        self.versions = versions
        self.deprecations = deprecations
    }

    package var latest: String { versions.last!.date }

    package func knows(_ version: String) -> Bool { versions.contains { $0.date == version } }

    package func version(_ date: String) -> Version? { versions.first { $0.date == date } }

    /// The versions this build serves.
    package static let current = APIVersions(versions: [
        Version(date: "2026-12-01", summary: "The first dated version: every route as docs and /openapi.json describe it.")
    ])
}
