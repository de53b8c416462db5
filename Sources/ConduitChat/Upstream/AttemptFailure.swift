import Foundation

/// Why one attempt at a deployment failed, as far as deciding what to do next needs.
enum AttemptFailure: Error, Equatable {
    /// No connection, or it broke before the answer's head.
    case unreachable(String)
    /// Nothing arrived within the deployment's timeout, or the call's total time ran out.
    case timedOut
    /// The provider answered `status`; `code` is its error code or type, when it gave one.
    case status(Int, code: String?, retryAfter: Duration?)
    /// The answer is not what the API promises (not JSON, or no SSE stream).
    case malformed(String)
    /// The answer is longer than `chat.max_response_bytes`.
    case tooLarge(Int)

    /// The provider is at fault (the deployment's circuit counts it), not the request it was sent.
    var isProviderFault: Bool {
        if case .status(let status, _, _) = self { return !Self.requestFaults.contains(status) }
        return true
    }

    /// Another attempt may succeed, at this deployment or another: connect errors, timeouts, 408, 429, 5xx,
    /// and answers that did not read (a proxy's error page).
    var isRetryable: Bool {
        switch self {
        case .unreachable, .timedOut, .malformed: true
        case .status(let status, _, _): status == 408 || status == 429 || status >= 500
        case .tooLarge: false
        }
    }

    /// Another deployment may succeed though this one will not: its key or model is wrong there (401, 403, 404).
    var triesAnotherDeployment: Bool {
        if case .status(let status, _, _) = self, [401, 403, 404].contains(status) { return true }
        return isRetryable
    }

    /// The provider's own verdict that the prompt is too long for the model: the next model may take it.
    var exceedsContextWindow: Bool {
        if case .status(_, let code?, _) = self { return code == "context_length_exceeded" }
        return false
    }

    var retryAfter: Duration? {
        if case .status(_, _, let retryAfter) = self { return retryAfter }
        return nil
    }

    /// Statuses that are the request's fault: it would fail anywhere.
    private static let requestFaults: Set<Int> = [400, 413, 422]
}
