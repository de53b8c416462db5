import ConduitCore
import Foundation
import NIOCore

/// Turns a provider's stream into OpenAI's chat completion chunks as its pieces arrive, and reads what
/// the gateway needs from it: the usage, and whether it ended (`data: [DONE]`).
protocol StreamRelay {
    var usage: TokenUsage? { get }
    var finished: Bool { get }
    /// Bytes of completion text seen, for a stream that gives no usage.
    var contentBytes: Int { get }
    /// The error code (or type) of an error event the provider sent in its stream; the event itself is
    /// not passed on (its message may quote a key).
    var providerError: String? { get }
    /// Takes the next piece of the provider's body; returns the events to send on.
    mutating func feed(_ chunk: ByteBuffer) -> ByteBuffer
}

/// Splits a body of server-sent events into whole events as its pieces arrive, and writes the events
/// the gateway makes itself.
struct EventSplitter {
    /// A `data:` event of `payload`, with its blank line.
    static func event(_ payload: some Sequence<UInt8>) -> ByteBuffer {
        var buffer = ByteBuffer(string: "data: ")
        buffer.writeBytes(payload)
        buffer.writeString("\n\n")
        return buffer
    }

    private var pending = ByteBuffer()

    /// The events `chunk` completed, each with its blank line.
    mutating func events(after chunk: ByteBuffer) -> [ByteBuffer] {
        var chunk = chunk
        pending.writeBuffer(&chunk)
        var events: [ByteBuffer] = []
        while let end = Self.eventEnd(in: pending.readableBytesView) { events.append(pending.readSlice(length: end)!) }
        pending.discardReadBytes()
        return events
    }

    /// The length of the first event in `bytes`, its blank line (`\n\n` or `\r\n\r\n`) included; nil until one is whole.
    private static func eventEnd(in bytes: ByteBufferView) -> Int? {
        let newline = UInt8(ascii: "\n")
        let carriageReturn = UInt8(ascii: "\r")
        let start = bytes.startIndex
        var index = start + 1
        while index < bytes.endIndex {
            if bytes[index] == newline {
                if bytes[index - 1] == newline { return index - start + 1 }
                if index - start >= 3, bytes[index - 1] == carriageReturn, bytes[index - 2] == newline, bytes[index - 3] == carriageReturn {
                    return index - start + 1
                }
            }
            index += 1
        }
        return nil
    }

    /// The event's `data:` payload (its first data line), without the field name and its one space.
    static func data(of event: ByteBufferView) -> ByteBufferView? {
        guard let start = event.firstRange(of: "data:".utf8) else { return nil }
        var from = start.upperBound
        if from < event.endIndex, event[from] == UInt8(ascii: " ") { from += 1 }
        var to = event[from...].firstIndex { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") } ?? event.endIndex
        if to < from { to = from }
        return event[from..<to]
    }

}

/// A stream of an OpenAI-compatible provider, passed on event by event, not re-encoded; the usage
/// chunk the gateway asked for on its own is kept back from a client that did not ask for it.
struct OpenAIStreamRelay: StreamRelay {
    /// Whether the client asked for the usage chunk.
    let forwardsUsage: Bool
    private(set) var usage: TokenUsage?
    private(set) var finished = false
    private(set) var contentBytes = 0
    private(set) var providerError: String?
    private var splitter = EventSplitter()

    init(forwardsUsage: Bool) { self.forwardsUsage = forwardsUsage }

    mutating func feed(_ chunk: ByteBuffer) -> ByteBuffer {
        var out = ByteBuffer()
        for event in splitter.events(after: chunk) where keep(event) { out.writeImmutableBuffer(event) }
        return out
    }

    /// Whether `event` goes on to the client, noting its usage and the end of the stream.
    private mutating func keep(_ event: ByteBuffer) -> Bool {
        let bytes = event.readableBytesView
        guard let data = EventSplitter.data(of: bytes) else { return true }  // a comment or keep-alive
        if data.elementsEqual("[DONE]".utf8) {
            finished = true
            return true
        }
        if data.firstRange(of: Self.errorKey) != nil,
            let failure = try? JSONDecoder().decode(ProviderErrorBody.self, from: Data(data)), let detail = failure.error
        {
            providerError = detail.code ?? "error"
            return false
        }
        contentBytes += Self.contentBytes(in: data)
        guard data.firstRange(of: Self.usageKey) != nil,
            let chunk = try? JSONDecoder().decode(UsageChunk.self, from: Data(data)), let usage = chunk.usage
        else { return true }
        self.usage = usage
        // The usage-only chunk (no choices) the gateway asked for on its own: a client that did not ask does not expect it.
        return forwardsUsage || !(chunk.choices?.isEmpty ?? true)
    }

    /// Bytes of the `"content":"…"` strings in a chunk, found by scanning rather than parsing.
    private static func contentBytes(in data: ByteBufferView) -> Int {
        var total = 0
        var rest = data[...]
        while let key = rest.firstRange(of: contentKey) {
            var index = key.upperBound
            var escaped = false
            while index < rest.endIndex {
                let byte = rest[index]
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    break
                }
                index += 1
            }
            total += index - key.upperBound
            rest = rest[min(index, rest.endIndex)...]
        }
        return total
    }

    private static let usageKey = Array("\"usage\"".utf8)
    private static let errorKey = Array("\"error\"".utf8)
    private static let contentKey = Array("\"content\":\"".utf8)

    private struct UsageChunk: Decodable {
        var choices: [Discarded]?
        var usage: TokenUsage?
    }

    private struct Discarded: Decodable {}
}

/// A provider's token counts.
package struct TokenUsage: Decodable, Sendable, Equatable {
    package var promptTokens: Int
    package var completionTokens: Int

    package init(promptTokens: Int, completionTokens: Int) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
    }

    /// Counts from elsewhere feed limits, bills and counters that must not go down or overflow: a count
    /// that is missing, not a whole number, negative or absurd reads as 0 or capped.
    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        promptTokens = Self.count(try? container.decode(Int.self, forKey: .promptTokens))
        completionTokens = Self.count(try? container.decode(Int.self, forKey: .completionTokens))
    }

    /// The counts of a usage object read as JSON.
    package init(_ usage: [String: JSONValue]) {
        func count(_ key: CodingKeys) -> Int {
            if case .integer(let value)? = usage[key.rawValue] { Self.count(Int(clamping: value)) } else { 0 }
        }
        promptTokens = count(.promptTokens)
        completionTokens = count(.completionTokens)
    }

    private static func count(_ value: Int?) -> Int { min(max(value ?? 0, 0), largestCount) }

    enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens"
        case completionTokens = "completion_tokens"
    }

    package var total: Int { promptTokens + completionTokens }

    /// More tokens than any call uses: a count past it is capped.
    static let largestCount = 10_000_000
}
