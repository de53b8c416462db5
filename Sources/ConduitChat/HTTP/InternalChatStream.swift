import ConduitCore
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// What a chat call made inside the server (a socket's chat turn, an agent's turn) came to, once its stream ended.
package struct InternalChatOutcome: Sendable {
    /// The deployment that served it.
    package var deployment: String?
    /// As the provider's last chunk gave it (`stream_options.include_usage`).
    package var usage: TokenUsage?
    /// At the prices of the deployment that served it.
    package var costUSD: Double?
}

extension ChatCompletionsController {
    /// Serves `request` as `POST /v1/chat/completions` serves a stream, for a caller inside the server (the
    /// same admission, limits, routing, retries and metering, as `context`'s caller), handing each chunk
    /// (OpenAI's chunk object) to `chunk` as it arrives. Throws what refused the call, or the error the
    /// stream ended with; cancelling the calling task cancels the provider's call.
    ///
    /// With `countingUsage`, the provider is asked for the usage (`stream_options.include_usage`), which then
    /// comes as a last chunk; without, the request's own options stand.
    package func stream(
        _ request: [String: JSONValue], context: ConduitRequestContext, countingUsage: Bool = true,
        chunk: @escaping @Sendable ([String: JSONValue]) async throws -> Void
    ) async throws -> InternalChatOutcome {
        var request = request
        request["stream"] = true
        if countingUsage {
            var options = request["stream_options"]?.objectValue ?? [:]
            options["include_usage"] = true
            request["stream_options"] = .object(options)
        }
        let response = try await serve(context: context, cacheControl: "") { request }
        let reading = StreamReading()
        try await response.body.write(ChunkReader(chunk: chunk, reading: reading))
        let (usage, error, stopped) = reading.outcome
        // What stopped the caller's reading (its turn cancelled) ended the stream: it is the call's outcome.
        if let stopped { throw stopped }
        if let error { throw error }
        let deployment = response.headers[Self.deploymentHeader]
        let price = deployment.flatMap { id in
            gateway.configuration.current.models.models.lazy.flatMap(\.deployments).first { $0.id == id }
        }
        return InternalChatOutcome(
            deployment: deployment, usage: usage,
            costUSD: usage.flatMap { usage in price?.cost(promptTokens: usage.promptTokens, completionTokens: usage.completionTokens) })
    }
}

/// The usage the stream's last chunk gave, and the error it ended with, as the route writes it after the chunks.
private final class StreamReading: Sendable {
    private let state = Mutex<(usage: TokenUsage?, error: APIError?, stopped: (any Error)?)>((nil, nil, nil))
    var outcome: (usage: TokenUsage?, error: APIError?, stopped: (any Error)?) { state.withLock { $0 } }
    func record(_ usage: TokenUsage) { state.withLock { $0.usage = usage } }
    func record(_ error: APIError) { state.withLock { $0.error = error } }
    func stop(_ error: any Error) { state.withLock { $0.stopped = error } }
}

/// Reads the server-sent events the route would write into chunk objects.
private struct ChunkReader: ResponseBodyWriter {
    let chunk: @Sendable ([String: JSONValue]) async throws -> Void
    let reading: StreamReading
    var splitter = EventSplitter()

    mutating func write(_ buffer: ByteBuffer) async throws {
        for event in splitter.events(after: buffer) {
            guard let payload = EventSplitter.data(of: event.readableBytesView), !payload.elementsEqual("[DONE]".utf8),
                case .object(let object)? = try? StrictJSON.parse(payload)
            else { continue }
            if case .object(let error)? = object["error"] {
                reading.record(
                    APIError(
                        status: .badGateway, message: error["message"]?.stringValue ?? "the provider's stream broke off",
                        type: error["type"]?.stringValue ?? "upstream_error", code: error["code"]?.stringValue))
                continue
            }
            if case .object(let usage)? = object["usage"], case .integer(let prompt)? = usage["prompt_tokens"],
                case .integer(let completion)? = usage["completion_tokens"]
            {
                reading.record(TokenUsage(promptTokens: Int(prompt), completionTokens: Int(completion)))
            }
            do {
                try await chunk(object)
            } catch {
                reading.stop(error)
                throw error
            }
        }
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
}
