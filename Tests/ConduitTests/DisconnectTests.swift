import Conduit
import ConduitTestSupport
import Foundation
import HummingbirdTesting
import NIOCore
import NIOPosix
import Testing

@testable import ConduitCore
@testable import ConduitEmbeddings

extension EndToEnd {
    @Suite("Client disconnect")
    struct DisconnectTests {
        /// Sends a raw HTTP request and closes the connection without reading the answer.
        private func sendAndHangUp(port: Int, body: String) async throws {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port).get()
            let request =
                "POST /v1/embeddings HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
            try await channel.writeAndFlush(ByteBuffer(string: request)).get()
            try await Task.sleep(for: .milliseconds(30))
            try await channel.close().get()
        }

        @Test("a request whose client hung up while it waited is dropped before it is computed")
        func hangUpWhileQueued() async throws {
            let (app, scheduler) = try TestServer.application()
            let model = try TestServer.model()
            try await app.test(.live) { client in
                let port = try #require(client.port)
                async let heavy = scheduler.embed(SchedulerTests.heavyRequest(model))
                try await Task.sleep(for: .milliseconds(20))
                try await sendAndHangUp(port: port, body: #"{"input":"nobody will read this"}"#)
                _ = try await heavy
                // Let the loop form its next batch, which finds the abandoned request.
                try await eventually(within: .seconds(1), every: .milliseconds(10)) { scheduler.statistics.cancelled != 0 }
                #expect(scheduler.statistics.cancelled == 1)
                #expect(scheduler.statistics.sequences == SchedulerTests.heavyCount)
            }
        }
    }
}
