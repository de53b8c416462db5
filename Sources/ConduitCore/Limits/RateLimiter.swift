import CoreMetrics
import HTTPTypes
import Store

/// Holds each request to the caller's limits, per key and per team: requests and tokens per minute,
/// tokens per month. Tokens are counted when the request is admitted (an embedding request's tokens
/// are known exactly once it is tokenized), all windows at once, in the store, so that limits hold
/// across every server sharing it.
package struct RateLimiter: Sendable {
    package let store: Database
    private let refusedRate: Counter
    private let refusedQuota: Counter

    package init(store: Database, metricsFactory: any MetricsFactory = NOOPMetricsHandler.instance) {
        self.store = store
        refusedRate = Counter(
            label: "conduit_rate_limit_refusals_total", dimensions: [("code", "rate_limit_exceeded")], factory: metricsFactory)
        refusedQuota = Counter(
            label: "conduit_rate_limit_refusals_total", dimensions: [("code", "insufficient_quota")], factory: metricsFactory)
    }

    /// What was counted for one request, to give back if it is never served.
    package struct Admission: Sendable {
        package let windows: [RateWindow]
        package let tokens: Int64
        package let at: Int64
        package let headers: HTTPFields
        /// Requests it counted: 1, or 0 for more of a job's work.
        package var requests: Int64 = 1
    }

    /// Admits a request of `tokens` tokens for `identity` (nil: authentication is off, nothing to
    /// count) and returns what it counted, with the rate-limit headers for the response; throws a 429
    /// when a limit is reached. `requests` 0 counts more tokens of work already counted as a request.
    package func admit(_ identity: Identity?, tokens: Int, requests: Int64 = 1) async throws -> Admission {
        guard let identity else { return Admission(windows: [], tokens: 0, at: 0, headers: [:]) }
        let windows = identity.rateWindows
        if let smallest = windows.compactMap(\.tokenLimit).min(), tokens > smallest {
            // Waiting would not help: the request alone is over the budget.
            throw LimitError.requestTooLarge(tokens: tokens, limit: Int(smallest))
        }
        let now = StoreTime.now()
        switch try await store.rateCounters.admit(requests: requests, tokens: Int64(tokens), in: windows, now: now) {
        case .admitted(let statuses):
            return Admission(
                windows: windows, tokens: Int64(tokens), at: now, headers: RateLimitHeaders.fields(statuses, now: now), requests: requests)
        case .refused(let status):
            var headers = RateLimitHeaders.fields([status], now: now)
            headers[.retryAfter] = String(max(1, StoreTime.secondsUntil(status.resetsAt, from: now)))
            let isTeam = status.window.subject.hasPrefix("team:")
            if status.window.period == .month {
                refusedQuota.increment()
                throw LimitError.quotaSpent(tokens: Int(status.window.tokenLimit ?? 0), isTeam: isTeam, headers: headers)
            }
            refusedRate.increment()
            throw LimitError.rateLimited(
                window: Self.describe(status.window), retryAfter: max(1, StoreTime.secondsUntil(status.resetsAt, from: now)),
                isTeam: isTeam, headers: headers)
        }
    }

    /// Holds `microUSD` (millionths of a dollar: the most a call can cost) against the caller's monthly
    /// budgets, atomically in the store like the token windows, or throws 429 `budget_exceeded`.
    package func reserveSpend(_ identity: Identity?, microUSD: Int64) async throws -> Admission {
        guard let identity, !identity.budgetWindows.isEmpty else { return Admission(windows: [], tokens: 0, at: 0, headers: [:]) }
        let now = StoreTime.now()
        switch try await store.rateCounters.admit(tokens: microUSD, in: identity.budgetWindows, now: now) {
        case .admitted:
            return Admission(windows: identity.budgetWindows, tokens: microUSD, at: now, headers: [:])
        case .refused(let status):
            refusedQuota.increment()
            throw LimitError.budgetExceeded(
                budget: Double(status.window.tokenLimit ?? 0) / 1_000_000, isTeam: status.window.subject.hasPrefix("team:"))
        }
    }

    /// Settles a budget reservation at what the call cost, then records, once per budget and month, each
    /// of `thresholds` (percentages) the spending has reached, as a `budget.threshold_crossed` event.
    package func settleSpend(_ admission: Admission, usedMicroUSD: Int64, identity: Identity?, thresholds: [Int]) async {
        guard let identity, !admission.windows.isEmpty else { return }
        await settle(admission, used: Int(usedMicroUSD))
        let store = self.store
        await Self.uncancelled {
            await Self.announceCrossings(of: admission, identity: identity, thresholds: thresholds, in: store)
        }
    }

    private static func announceCrossings(of admission: Admission, identity: Identity, thresholds: [Int], in store: Database) async {
        for window in admission.windows {
            guard let budget = window.tokenLimit, budget > 0, let spent = try? await store.rateCounters.counted(in: window) else {
                continue
            }
            let isTeam = window.subject.hasPrefix("team:")
            for percent in thresholds where spent * 100 >= budget * Int64(percent) {
                let crossing = BudgetEvents.ThresholdCrossed(
                    scope: isTeam ? "team" : "key", keyID: isTeam ? nil : identity.keyID, teamID: identity.teamID, percent: percent,
                    budgetUSD: Double(budget) / 1_000_000, spentUSD: Double(spent) / 1_000_000)
                _ = try? await store.budgetAlerts.record(percent: percent, of: window, teamID: identity.teamID, event: NewEvent(crossing))
            }
        }
    }

    /// Counts a request refused before it was admitted (a 4xx other than 429) toward the caller's request
    /// limit: bad requests are not free, and past the limit they get 429 like any other. Throws that 429.
    package func countRefused(_ refusal: APIError, identity: Identity?) async throws(LimitError) {
        guard (400..<500).contains(refusal.status.code), refusal.status != .tooManyRequests else { return }
        do {
            _ = try await admit(identity, tokens: 0)
        } catch let limited as LimitError {
            throw limited
        } catch {}
    }

    /// Gives back what `admission` counted, for a request the server did not serve.
    package func refund(_ admission: Admission) async {
        let store = self.store
        await Self.uncancelled {
            try? await store.rateCounters.refund(
                requests: admission.requests, tokens: admission.tokens, in: admission.windows, admittedAt: admission.at)
        }
    }

    /// Runs `work` to its end even when the caller was cancelled (a job cancelled, a client gone, a
    /// request's deadline passed), which is often why a reservation is given back or settled: the store's
    /// calls would refuse to run in a cancelled task, and the reservation would stay counted.
    private static func uncancelled(_ work: @escaping @Sendable () async -> Void) async {
        await Task { await work() }.value
    }

    /// Settles a reservation: `admission` counted what the request was expected to use, and it used
    /// `used`; the difference is given back (or, past the reservation, added), the request still counted.
    package func settle(_ admission: Admission, used: Int) async {
        let unused = admission.tokens - Int64(max(0, used))
        guard unused != 0, !admission.windows.isEmpty else { return }
        let store = self.store
        await Self.uncancelled {
            try? await store.rateCounters.refund(requests: 0, tokens: unused, in: admission.windows, admittedAt: admission.at)
        }
    }

    private static func describe(_ window: RateWindow) -> String {
        [window.requestLimit.map { "\($0) requests" }, window.tokenLimit.map { "\($0) tokens" }]
            .compactMap { $0 }.joined(separator: " and ") + " per \(window.period.rawValue)"
    }
}
