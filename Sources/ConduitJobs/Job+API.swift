import ConduitCore
import Foundation
import Store

extension Job {
    /// A job as the API shows it; times in seconds since 1970, as OpenAI's objects have them.
    public var apiRepresentation: [String: Any] {
        func json(_ text: String?) -> Any {
            text.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8), options: .fragmentsAllowed) } ?? NSNull()
        }
        func seconds(_ milliseconds: Int64?) -> Any { milliseconds.map { $0 / 1000 } ?? NSNull() }
        return [
            "id": id, "object": "job", "kind": kind, "queue": queue, "state": state.rawValue, "priority": priority,
            "input": json(input), "result": json(result),
            "errors": errors.map { ["attempt": $0.attempt, "at": $0.at / 1000, "message": $0.message] as [String: Any] },
            "attempt": attempt, "max_attempts": maxAttempts, "run_at": seconds(runAt), "expires_at": seconds(expiresAt),
            "created_at": seconds(createdAt), "attempted_at": seconds(attemptedAt), "finished_at": seconds(finishedAt),
            "progress": ["done": progressDone, "total": progressTotal ?? NSNull()] as [String: Any],
        ]
    }
}
