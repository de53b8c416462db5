import Foundation
import HTTPTypes
import Hummingbird

extension HTTPField.Name {
    /// The API version a request is written for, and an answer was served as.
    package static let conduitVersion = Self("Conduit-Version")!
    package static let deprecation = Self("Deprecation")!
    package static let sunset = Self("Sunset")!
    package static let link = Self("Link")!
}

/// Outermost of the two: says on every answer, errors included, which version served it
/// (`Conduit-Version`: the one asked for, else the key's, else the latest), and on a deprecated route's
/// answers, when it was deprecated, when it goes and where the notes are.
package struct APIVersionEcho: RouterMiddleware {
    package typealias Context = ConduitRequestContext
    let versions: APIVersions

    package init(versions: APIVersions) { self.versions = versions }

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        let asked = request.headers[.conduitVersion].flatMap { versions.knows($0) ? $0 : nil }
        let served = asked ?? context.caller.pinnedVersion ?? versions.latest
        response.headers[.conduitVersion] = served
        let route = "\(request.method.rawValue) \(context.endpointPath ?? "")"
        if let deprecation = versions.deprecations[route] {
            response.headers[.deprecation] = "@\(deprecation.since)"
            if let sunset = deprecation.sunset { response.headers[.sunset] = Self.httpDate(sunset) }
            response.headers[.link] = "<\(deprecation.link)>; rel=\"deprecation\""
        } else if let sunset = versions.version(served)?.sunset {
            // The whole version goes: its sunset on every answer it serves.
            response.headers[.sunset] = Self.httpDate(sunset)
        }
        return response
    }

    /// RFC 9110's date, which `Sunset` takes: `Sun, 06 Nov 1994 08:49:37 GMT`.
    static func httpDate(_ seconds: Int64) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }
}

/// Inside the error renderer: a version the server does not serve is 400 `unsupported_version`, naming
/// those it does; a known one is what the request is served as (`ConduitRequestContext.apiVersion`).
package struct APIVersionSelection: RouterMiddleware {
    package typealias Context = ConduitRequestContext
    let versions: APIVersions

    package init(versions: APIVersions) { self.versions = versions }

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let asked = request.headers[.conduitVersion] else { return try await next(request, context) }
        guard versions.knows(asked) else {
            throw APIError.invalidRequest(
                "Conduit-Version '\(asked.bounded(toBytes: 32))' is not served; the versions are \(versions.versions.map(\.date).joined(separator: ", "))",
                param: "Conduit-Version", code: "unsupported_version")
        }
        var context = context
        context.requestedVersion = asked
        return try await next(request, context)
    }
}

/// `GET /v1/versions`: the versions served, the latest, and the caller's (what it gets when it names none).
package struct VersionsController: Sendable {
    let versions: APIVersions

    package init(versions: APIVersions) { self.versions = versions }

    private struct Listing: Encodable, Sendable {
        var object = "list"
        var data: [Entry]
        var latest: String
        /// The version the caller's requests get when they name none.
        var yours: String
    }

    private struct Entry: Encodable, Sendable {
        var object = "api_version"
        var version: String
        var summary: String
        /// `current`, or `deprecated` once it has a sunset.
        var status: String
        @Nullable var sunset: Int64?
    }

    package func addRoutes(to router: some RouterMethods<ConduitRequestContext>) {
        router.get("/v1/versions") { _, context in
            try json(
                Listing(
                    data: versions.versions.map { version in
                        Entry(
                            version: version.date, summary: version.summary, status: version.sunset == nil ? "current" : "deprecated",
                            sunset: version.sunset)
                    }, latest: versions.latest, yours: context.identity?.apiVersion ?? versions.latest))
        }
    }
}
