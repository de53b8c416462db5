import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Tracing

/// Calls the upstream's `/chat/completions`. Each call is a client span and carries the W3C
/// `traceparent` of the work that made it (AsyncHTTPClient injects it with the process's tracer), so
/// the provider's traces join Conduit's.
///
/// A service: its connections close once what runs before it in the shutdown order (the job runner)
/// has stopped.
public final class ChatCompletionClient: Service, Sendable {
    private let http: HTTPClient
    private let configuration: LiveConfiguration

    public init(configuration: LiveConfiguration) {
        var client = HTTPClient.Configuration()
        // Read now, after `conduit serve` bootstrapped tracing: the client keeps the tracer it was made with.
        client.tracing.tracer = InstrumentationSystem.tracer
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: client)
        self.configuration = configuration
    }

    public func run() async throws {
        try? await gracefulShutdown()
        try await http.shutdown()
    }

    struct Completion: Sendable {
        var content: String
        var promptTokens: Int
        var completionTokens: Int
    }

    /// Sends `body` (an OpenAI chat request, as JSON) and returns the first choice's message.
    func complete(_ body: [String: Any]) async throws -> Completion {
        let upstream = configuration.read(\.upstream)
        guard let url = upstream.chatCompletionsURL else { throw UpstreamError.notConfigured }
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let key = upstream.apiKey { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await http.execute(request, timeout: TimeAmount(upstream.timeout))
            bytes = try await response.body.collect(upTo: 16 << 20)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw UpstreamError.timedOut(upstream.timeout)
        } catch let error as UpstreamError {
            throw error
        } catch {
            throw UpstreamError.unreachable("\(error)")
        }
        guard response.status == .ok else {
            throw UpstreamError.status(Int(response.status.code), String(buffer: bytes).prefix(300).description)
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView)) as? [String: Any],
            let choices = object["choices"] as? [[String: Any]], let message = choices.first?["message"] as? [String: Any],
            let content = message["content"] as? String
        else { throw UpstreamError.malformed("no choices[0].message.content in the answer") }
        let usage = object["usage"] as? [String: Any]
        return Completion(
            content: content, promptTokens: usage?["prompt_tokens"] as? Int ?? 0, completionTokens: usage?["completion_tokens"] as? Int ?? 0
        )
    }
}

/// Why an upstream call failed; the job that made it is retried after its backoff.
enum UpstreamError: Error, CustomStringConvertible, Equatable {
    case notConfigured
    case unreachable(String)
    case timedOut(Duration)
    case status(Int, String)
    case malformed(String)

    var description: String {
        switch self {
        case .notConfigured: "no upstream is configured (upstream.base_url)"
        case .unreachable(let reason): "the upstream could not be reached: \(reason)"
        case .timedOut(let timeout): "the upstream did not answer within \(timeout)"
        case .status(let status, let body): "the upstream answered \(status): \(body)"
        case .malformed(let what): "the upstream's answer is malformed: \(what)"
        }
    }
}
