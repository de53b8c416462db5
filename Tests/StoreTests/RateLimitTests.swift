import ConduitTestSupport
import Foundation
import Testing

@testable import Store

@Suite("Store: rate limits and quotas")
struct RateLimitTests {
    private func admitted(_ decisions: [RateDecision]) -> Int {
        decisions.filter { if case .admitted = $0 { true } else { false } }.count
    }

    @Test("100 concurrent requests against a budget for 10: exactly 10 get through", arguments: Backend.allCases)
    func concurrentBudget(backend: Backend) async throws {
        try await TestDatabase.with(backend) { store in
            let byRequests = RateWindow.windows(for: "key:a", Limits(requestsPerMinute: 10))
            let byTokens = RateWindow.windows(for: "key:b", Limits(tokensPerMinute: 70))
            let byMonth = RateWindow.windows(for: "team:c", Limits(monthlyTokens: 70))
            let now: Int64 = 1_800_000_000_000
            for windows in [byRequests, byTokens, byMonth] {
                let decisions = try await withThrowingTaskGroup(of: RateDecision.self) { group in
                    for _ in 0..<100 { group.addTask { try await store.rateCounters.admit(tokens: 7, in: windows, now: now) } }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(admitted(decisions) == 10, "\(windows)")
            }
        }
    }

    @Test("two servers sharing PostgreSQL, each with its own connections, stay within the limit together")
    func twoNodes() async throws {
        let location = try await TestDatabase.makeLocation(.postgres)
        let first = try await Database.open(location, logger: TestDatabase.logger)
        let second = try await Database.open(location, logger: TestDatabase.logger)
        do {
            try await first.migrate()
            let windows = RateWindow.windows(for: "team:shared", Limits(requestsPerMinute: 40, tokensPerMinute: 10_000))
            let now: Int64 = 1_800_000_000_000
            let decisions = try await withThrowingTaskGroup(of: RateDecision.self) { group in
                for index in 0..<120 {
                    let node = index.isMultiple(of: 2) ? first : second
                    group.addTask { try await node.rateCounters.admit(tokens: 10, in: windows, now: now) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(admitted(decisions) == 40)
        } catch {
            await first.close()
            await second.close()
            throw error
        }
        await first.close()
        await second.close()
    }

    @Test("a request is counted in every window or in none", arguments: Backend.allCases)
    func allOrNothing(backend: Backend) async throws {
        try await TestDatabase.with(backend) { store in
            let key = RateWindow.windows(for: "key:k", Limits(requestsPerMinute: 100))
            let team = RateWindow.windows(for: "team:t", Limits(requestsPerMinute: 2))
            let now: Int64 = 1_800_000_010_000
            for _ in 0..<2 { #expect(admitted([try await store.rateCounters.admit(tokens: 1, in: key + team, now: now)]) == 1) }
            guard case .refused(let status) = try await store.rateCounters.admit(tokens: 1, in: key + team, now: now) else {
                Issue.record("the team's limit should refuse the third request")
                return
            }
            // The window slides: the next request fits as soon as this minute's two begin to fade.
            #expect(status.window.subject == "team:t" && status.resetsAt == 1_800_000_060_001)
            // The refused request left no trace in the key's window.
            guard case .admitted(let statuses) = try await store.rateCounters.admit(tokens: 1, in: key, now: now) else {
                Issue.record("the key alone has room")
                return
            }
            #expect(statuses.first?.requests == 3)
            #expect(admitted([try await store.rateCounters.admit(tokens: 1, in: key + team, now: now + StoreTime.minute)]) == 1)
        }
    }

    @Test(
        "a minute window slides: 20 attempts in 6 s across a minute's boundary get 11 through at most, not 20; the refusal's reset time lets the next in; later all is forgotten",
        arguments: Backend.allCases)
    func slidingMinute(backend: Backend) async throws {
        try await TestDatabase.with(backend) { store in
            let windows = [RateWindow(subject: "login:someone", period: .minute, requestLimit: 10, tokenLimit: nil)]
            let boundary: Int64 = 1_800_000_040_000  // a minute's start
            var through = 0
            var retryAt: Int64 = 0
            for attempt in 0..<20 {
                // 3 s before the boundary to 3.3 s after it.
                let now = boundary - 3_000 + Int64(attempt) * 330
                switch try await store.rateCounters.admit(tokens: 0, in: windows, now: now) {
                case .admitted: through += 1
                case .refused(let status): retryAt = status.resetsAt
                }
            }
            #expect(through <= 11, "\(through) of 20 got through")
            // A client that waits as Retry-After says is let in then, not refused again.
            #expect(retryAt > boundary)
            #expect(admitted([try await store.rateCounters.admit(tokens: 0, in: windows, now: retryAt)]) == 1)
            let later = boundary + 2 * StoreTime.minute
            #expect(admitted([try await store.rateCounters.admit(tokens: 0, in: windows, now: later)]) == 1)
        }
    }

    @Test("a refunded request can be made again", arguments: Backend.allCases)
    func refund(backend: Backend) async throws {
        try await TestDatabase.with(backend) { store in
            let windows = RateWindow.windows(for: "key:r", Limits(requestsPerMinute: 1, monthlyTokens: 10))
            let now: Int64 = 1_800_000_000_000
            #expect(admitted([try await store.rateCounters.admit(tokens: 10, in: windows, now: now)]) == 1)
            #expect(admitted([try await store.rateCounters.admit(tokens: 1, in: windows, now: now)]) == 0)
            try await store.rateCounters.refund(tokens: 10, in: windows, admittedAt: now)
            #expect(admitted([try await store.rateCounters.admit(tokens: 10, in: windows, now: now + StoreTime.second)]) == 1)
        }
    }

    @Test("monthly windows follow the calendar in UTC")
    func monthBounds() {
        let window = RateWindow(subject: "t", period: .month, requestLimit: nil, tokenLimit: 1)
        // 2026-12-31T23:59:59Z and 2027-01-01T00:00:00Z
        #expect(window.bounds(at: 1_798_761_599_999) == (1_796_083_200_000, 1_798_761_600_000))
        #expect(window.bounds(at: 1_798_761_600_000).start == 1_798_761_600_000)
        let minute = RateWindow(subject: "t", period: .minute, requestLimit: 1, tokenLimit: nil)
        #expect(minute.bounds(at: 125_000) == (120_000, 180_000))
    }
}
