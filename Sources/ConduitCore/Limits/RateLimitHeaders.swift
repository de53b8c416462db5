import HTTPTypes
import Store

/// OpenAI's rate-limit headers: for requests and for tokens, the limit, what remains and when it
/// resets, of the window closest to its limit.
package enum RateLimitHeaders {
    package static func fields(_ statuses: [RateStatus], now: Int64) -> HTTPFields {
        var fields = HTTPFields()
        let requests = statuses.filter { $0.window.requestLimit != nil }.min { $0.remainingRequests! < $1.remainingRequests! }
        if let requests, let limit = requests.window.requestLimit, let remaining = requests.remainingRequests {
            fields[.rateLimitLimitRequests] = String(limit)
            fields[.rateLimitRemainingRequests] = String(remaining)
            fields[.rateLimitResetRequests] = "\(StoreTime.secondsUntil(requests.resetsAt, from: now))s"
        }
        let tokens = statuses.filter { $0.window.tokenLimit != nil }.min { $0.remainingTokens! < $1.remainingTokens! }
        if let tokens, let limit = tokens.window.tokenLimit, let remaining = tokens.remainingTokens {
            fields[.rateLimitLimitTokens] = String(limit)
            fields[.rateLimitRemainingTokens] = String(remaining)
            fields[.rateLimitResetTokens] = "\(StoreTime.secondsUntil(tokens.resetsAt, from: now))s"
        }
        return fields
    }
}

extension HTTPField.Name {
    package static let rateLimitLimitRequests = Self("x-ratelimit-limit-requests")!
    package static let rateLimitRemainingRequests = Self("x-ratelimit-remaining-requests")!
    package static let rateLimitResetRequests = Self("x-ratelimit-reset-requests")!
    package static let rateLimitLimitTokens = Self("x-ratelimit-limit-tokens")!
    package static let rateLimitRemainingTokens = Self("x-ratelimit-remaining-tokens")!
    package static let rateLimitResetTokens = Self("x-ratelimit-reset-tokens")!
}
