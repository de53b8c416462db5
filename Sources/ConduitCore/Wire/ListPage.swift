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

    package func response<Item>(_ fetched: [Item], id: (Item) -> String, representation: (Item) throws -> Any) throws -> Response {
        let page = Array(fetched.prefix(limit))
        return try Response.json([
            "object": "list", "data": try page.map(representation), "has_more": fetched.count > limit,
            "last_id": page.last.map(id) ?? NSNull(),
        ])
    }
}

extension Response {
    /// A JSON object as the body, keys sorted.
    package static func json(_ object: [String: Any], status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
