import Foundation
import SQLKit

/// A request and its answer as the request log keeps them (bodies already redacted), for
/// `conduit replay`.
public struct LoggedRequest: Sendable, Equatable, Decodable {
    /// The `x-request-id` the answer carried.
    public var requestID: String
    public var teamID: String?
    public var keyID: String?
    public var method: String
    /// The path as called, query included.
    public var path: String
    public var status: Int
    public var durationMilliseconds: Int64
    public var requestBody: String
    public var responseBody: String
    public var createdAt: Int64

    public init(
        requestID: String, teamID: String?, keyID: String?, method: String, path: String, status: Int, durationMilliseconds: Int64,
        requestBody: String, responseBody: String, createdAt: Int64 = StoreTime.now()
    ) {
        self.requestID = requestID
        self.teamID = teamID
        self.keyID = keyID
        self.method = method
        self.path = path
        self.status = status
        self.durationMilliseconds = durationMilliseconds
        self.requestBody = requestBody
        self.responseBody = responseBody
        self.createdAt = createdAt
    }
}

public struct RequestLogRepository: Repository {
    let database: Database
    /// Stores `requests`, a hundred per transaction (their bodies can be large).
    public func record(_ requests: [LoggedRequest]) async throws {
        for start in stride(from: 0, to: requests.count, by: 100) {
            let chunk = requests[start..<min(requests.count, start + 100)]
            try await transaction { sql in
                for request in chunk {
                    try await sql.raw(
                        """
                        INSERT INTO request_log
                            (id, request_id, team_id, key_id, method, path, status, duration_ms, request_body, response_body, created_at)
                        VALUES (\(bind: randomIdentifier()), \(bind: request.requestID), \(bind: request.teamID),
                                \(bind: request.keyID), \(bind: request.method), \(bind: request.path), \(bind: request.status),
                                \(bind: request.durationMilliseconds), \(bind: request.requestBody), \(bind: request.responseBody),
                                \(bind: request.createdAt))
                        """
                    ).run()
                }
            }
        }
    }

    /// The latest request logged under `requestID`, if it is still kept.
    public func find(_ requestID: String) async throws -> LoggedRequest? {
        try await read { sql in
            try await sql.raw(
                """
                SELECT request_id, team_id, key_id, method, path, status, duration_ms AS duration_milliseconds, request_body, response_body,
                       created_at
                FROM request_log WHERE request_id = \(bind: requestID) ORDER BY created_at DESC LIMIT 1
                """
            ).first().map { try $0.decode(LoggedRequest.self) }
        }
    }

    /// Deletes requests logged before `cutoff` (milliseconds since 1970).
    public func prune(before cutoff: Int64) async throws {
        try await read { sql in try await sql.raw("DELETE FROM request_log WHERE created_at < \(bind: cutoff)").run() }
    }
}

extension Database {
    /// The request log that `conduit replay` reads.
    public var requestLog: RequestLogRepository { RequestLogRepository(database: self) }
}
