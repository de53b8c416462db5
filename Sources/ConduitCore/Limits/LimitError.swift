import HTTPTypes

/// Why a caller's limits refuse a request, in their own terms.
package enum LimitError: APIErrorConvertible, Equatable {
    /// The request alone is over the smallest token budget: waiting would not help.
    case requestTooLarge(tokens: Int, limit: Int)
    /// A window is full until `retryAfter` seconds from now; `isTeam`: the team's, not the key's.
    case rateLimited(window: String, retryAfter: Int64, isTeam: Bool, headers: HTTPFields)
    /// A monthly token budget is spent.
    case quotaSpent(tokens: Int, isTeam: Bool, headers: HTTPFields)
    /// A monthly budget in US dollars would be passed by this call (its largest possible cost).
    case budgetExceeded(budget: Double, isTeam: Bool)
    /// Too many login attempts for an account, or from one address.
    case loginAttempts(fromAddress: Bool, retryAfter: Int64)

    package var apiError: APIError {
        switch self {
        case .requestTooLarge(let tokens, let limit):
            .invalidRequest(
                "this request has \(tokens) tokens, more than a limit of \(limit) tokens allows at once; split it", param: "input",
                code: "request_too_large")
        case .rateLimited(let window, let retryAfter, let isTeam, let headers):
            APIError(
                status: .tooManyRequests,
                message: "\(isTeam ? "your team's" : "this API key's") rate limit is reached (\(window)); try again in \(retryAfter) s",
                type: "requests", code: "rate_limit_exceeded", headers: headers)
        case .quotaSpent(let tokens, let isTeam, let headers):
            APIError(
                status: .tooManyRequests,
                message:
                    "\(isTeam ? "your team's" : "this API key's") monthly token budget of \(tokens) is spent; it renews at the start of next month (UTC)",
                type: "insufficient_quota", code: "insufficient_quota", headers: headers)
        case .budgetExceeded(let budget, let isTeam):
            APIError(
                status: .tooManyRequests,
                message:
                    "\(isTeam ? "your team's" : "this API key's") monthly budget of \(budget) USD would be passed by this call; it renews at the start of next month (UTC)",
                type: "insufficient_quota", code: "budget_exceeded")
        case .loginAttempts(let fromAddress, let retryAfter):
            APIError(
                status: .tooManyRequests,
                message: "too many login attempts \(fromAddress ? "from this address" : "for this account"); try again in \(retryAfter) s",
                type: "requests", code: "rate_limit_exceeded", headers: [.retryAfter: String(max(1, retryAfter))])
        }
    }
}
