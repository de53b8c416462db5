import Foundation
import HTTPTypes
import Logging
import NIOWebSocket
import Synchronization
import WSClient

/// A WebSocket client for the tests: connects, sends JSON messages, and reads the server's one at a time.
final class TestSocket: Sendable {
    private let inbox = Inbox()
    private let outgoing: AsyncStream<String>.Continuation
    /// Ends with the code the server closed the socket with.
    private let connection: Task<String?, any Error>

    /// Opens `path` (with `headers`) on the server at `port`; throws when the upgrade is refused.
    init(port: Int, path: String = "/v1/ws", headers: HTTPFields = [:]) async throws {
        let (outgoing, toSend) = AsyncStream.makeStream(of: String.self)
        let received = inbox
        self.outgoing = toSend
        let opened = AsyncStream.makeStream(of: Void.self)
        connection = Task {
            defer {
                received.close()
                opened.continuation.finish()
            }
            let close = try await WebSocketClient.connect(
                url: "ws://127.0.0.1:\(port)\(path)", configuration: .init(additionalHeaders: headers), logger: Logger(label: "test-socket")
            ) { inbound, outbound, _ in
                opened.continuation.yield()
                // Closed by the test (`close()`): as a client closes, with a close frame the server answers.
                let writer = Task {
                    for await text in outgoing { try await outbound.write(.text(text)) }
                    try await outbound.close(.normalClosure, reason: nil)
                }
                defer { writer.cancel() }
                for try await message in inbound.messages(maxSize: 1 << 20) {
                    if case .text(let text) = message { received.put(text) }
                }
            }
            return close.map { "\($0.closeCode)" }
        }
        var wait = opened.stream.makeAsyncIterator()
        guard await wait.next() != nil else {
            _ = try await connection.value
            throw WebSocketClientError.webSocketUpgradeFailed
        }
    }

    /// Sends `text` as it is, for messages JSONSerialization would not write.
    func sendText(_ text: String) { outgoing.yield(text) }

    func send(_ message: [String: Any]) throws {
        outgoing.yield(String(decoding: try JSONSerialization.data(withJSONObject: message), as: UTF8.self))
    }

    /// The server's next message, or nil once the socket is closed (or nothing came within `wait`).
    func next(within wait: Duration = .seconds(10)) async -> [String: Any]? {
        let text = await inbox.take(within: wait)
        return text.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    /// The next message of `type`, passing over others.
    func next(_ type: String, within wait: Duration = .seconds(10)) async -> [String: Any]? {
        let deadline = ContinuousClock.now + wait
        while ContinuousClock.now < deadline, let message = await next(within: deadline - .now) {
            if message["type"] as? String == type { return message }
        }
        return nil
    }

    /// The close code the server ended the socket with, once it has.
    func closed() async throws -> String? {
        try await connection.value
    }

    func close() {
        outgoing.finish()
    }
}

/// The messages a socket received and the test has not read yet.
private final class Inbox: Sendable {
    private struct State {
        var messages: [String] = []
        var closed = false
        var waiter: (id: Int, continuation: CheckedContinuation<String?, Never>)?
        var waits = 0
    }
    private let state = Mutex(State())

    func put(_ message: String) {
        let waiter = state.withLock { state in
            guard let waiter = state.waiter else {
                state.messages.append(message)
                return CheckedContinuation<String?, Never>?.none
            }
            state.waiter = nil
            return waiter.continuation
        }
        waiter?.resume(returning: message)
    }

    func close() {
        let waiter = state.withLock { state in
            state.closed = true
            defer { state.waiter = nil }
            return state.waiter?.continuation
        }
        waiter?.resume(returning: nil)
    }

    /// The oldest message not taken, waiting up to `wait` for one.
    func take(within wait: Duration) async -> String? {
        await withCheckedContinuation { continuation in
            let (ready, id) = state.withLock { state -> (String??, Int) in
                if !state.messages.isEmpty { return (.some(state.messages.removeFirst()), 0) }
                if state.closed { return (.some(nil), 0) }
                state.waits += 1
                state.waiter = (state.waits, continuation)
                return (nil, state.waits)
            }
            if let ready { return continuation.resume(returning: ready) }
            Task {
                try? await Task.sleep(for: wait)
                let timedOut = self.state.withLock { state in
                    guard let waiter = state.waiter, waiter.id == id else { return CheckedContinuation<String?, Never>?.none }
                    state.waiter = nil
                    return waiter.continuation
                }
                timedOut?.resume(returning: nil)
            }
        }
    }
}
