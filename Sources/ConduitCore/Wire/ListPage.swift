import Foundation
import Hummingbird
import NIOCore

/// A page of a list, as every list of the API answers: `{"object": "list", "data": [...], "has_more",
/// "last_id"}`; the next page is asked for with `after=<last_id>`.
package struct ListPage {
    /// The page size asked for (`limit`, 1 to 100, 20 by default).
    package let limit: Int
    package let after: String?

    package init(_ request: Request) throws {
        let query = request.uri.queryParameters
        limit = Int(query["limit"].map(String.init) ?? "20") ?? -1
        guard (1...100).contains(limit) else {
            throw APIError.invalidRequest("limit must be from 1 to 100", param: "limit", code: "invalid_value")
        }
        after = query["after"].map(String.init)
    }

    /// How many to fetch: one more than the page, to tell whether more follow.
    package var fetch: Int { limit + 1 }

    /// The page of `fetched` (which holds one more than the page when more follow), each shown as `view` shows it.
    package func response<Item, View: Encodable & Sendable>(_ fetched: [Item], id: (Item) -> String, view: (Item) throws -> View) throws
        -> Response
    {
        let page = Array(fetched.prefix(limit))
        return try json(
            Page(data: try page.map(view), hasMore: fetched.count > limit, lastID: page.last.map(id)))
    }

    private struct Page<Item: Encodable & Sendable>: Encodable, Sendable {
        var object = "list"
        var data: [Item]
        var hasMore: Bool
        @Nullable var lastID: String?
    }
}
