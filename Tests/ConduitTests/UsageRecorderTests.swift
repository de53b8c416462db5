import ConduitTestSupport
import Foundation
import Store
import Testing

@testable import Conduit
@testable import ConduitCore
@testable import ConduitInsights

@Suite("Usage recorder")
struct UsageRecorderTests {
    @Test("events recorded just before the service is cancelled are still written", arguments: Backend.allCases)
    func lastEventsSurviveCancellation(backend: Backend) async throws {
        try await TestDatabase.with(backend) { store in
            let recorder = UsageRecorder(store: store, logger: TestServer.logger, interval: .seconds(3600))
            let service = Task { try await recorder.run() }
            try await Task.sleep(for: .milliseconds(50))
            for status in [200, 429] {
                recorder.record(
                    UsageEvent(
                        teamID: nil, keyID: nil, model: "m", route: "/v1/embeddings", tokens: 5, latencyMilliseconds: 1, status: status))
            }
            service.cancel()
            try await service.value
            let summary = try await store.usage.summary(teamID: nil, from: 0, to: StoreTime.now() + StoreTime.day)
            #expect(summary.map(\.requests).reduce(0, +) == 2)
            #expect(summary.map(\.errors).reduce(0, +) == 1)
        }
    }
}
