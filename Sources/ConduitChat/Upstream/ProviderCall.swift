import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Tracing

/// One attempt at a deployment: its `/chat/completions` (or Anthropic's `/messages`).
struct ProviderCall {
    let deployment: GatewayDeployment
    let client: HTTPClient
    /// When the whole call (every attempt, the streamed answer) must be over.
    let deadline: ContinuousClock.Instant
    /// The attempt's span, for what is learnt of the answer.
    var span: (any Span)? = nil

    /// Notes the answer's token counts on the attempt's span.
    func note(_ usage: TokenUsage?) {
        guard let usage, let span else { return }
        span.attributes["gen_ai.usage.input_tokens"] = usage.promptTokens
        span.attributes["gen_ai.usage.output_tokens"] = usage.completionTokens
    }

    /// The request to `path` under the deployment's base URL, with its key.
    func request(body: ByteBuffer, path: String) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: deployment.baseURL.appending(path: path).absoluteString)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        deployment.provider.prepare(&request)
        if let key = deployment.apiKey { deployment.provider.authorize(&request, key: key) }
        request.body = .bytes(body)
        return request
    }

    /// Sends `body` to `path` and returns the answer once its head says 200; any other status is a failure,
    /// with the provider's error code (its message is never read on: it may quote the key).
    func send(_ body: ByteBuffer, to path: String) async throws -> HTTPClientResponse {
        let response: HTTPClientResponse
        do {
            let remaining = deadline - .now
            guard remaining > .zero else { throw AttemptFailure.timedOut }
            response = try await client.execute(request(body: body, path: path), timeout: TimeAmount(remaining))
        } catch {
            throw Self.failure(error)
        }
        guard response.status == .ok else {
            let text = try? await read(response.body, limit: 64 * 1024)
            let code = text.flatMap { try? JSONDecoder().decode(ProviderErrorBody.self, from: Data($0.readableBytesView)) }?.error?.code
            throw AttemptFailure.status(
                Int(response.status.code), code: code.map { String($0.prefix(64)) }, retryAfter: Self.retryAfter(response.headers))
        }
        return response
    }

    /// The whole body, at most `limit` bytes, by the call's deadline.
    func read(_ body: HTTPClientResponse.Body, limit: Int) async throws -> ByteBuffer {
        var collected = ByteBuffer()
        do {
            for try await chunk in body {
                guard collected.readableBytes + chunk.readableBytes <= limit else { throw AttemptFailure.tooLarge(limit) }
                guard ContinuousClock.now < deadline else { throw AttemptFailure.timedOut }
                var chunk = chunk
                collected.writeBuffer(&chunk)
            }
        } catch {
            throw Self.failure(error)
        }
        return collected
    }

    /// What the client library's error means for the next attempt; cancellation (the client left) stays as it is.
    static func failure(_ error: any Error) -> any Error {
        switch error {
        case is AttemptFailure, is CancellationError: return error
        case let error as HTTPClientError:
            switch error {
            case .readTimeout, .deadlineExceeded, .connectTimeout: return AttemptFailure.timedOut
            case .cancelled: return CancellationError()
            default: return AttemptFailure.unreachable("\(error)")
            }
        default: return AttemptFailure.unreachable("\(error)")
        }
    }

    /// `retry-after-ms` (OpenAI's) or `Retry-After` in seconds.
    static func retryAfter(_ headers: HTTPHeaders) -> Duration? {
        if let milliseconds = headers.first(name: "retry-after-ms").flatMap(Double.init), milliseconds >= 0 {
            return .milliseconds(Int(milliseconds))
        }
        if let seconds = headers.first(name: "retry-after").flatMap(Double.init), seconds >= 0 { return .milliseconds(Int(seconds * 1000)) }
        return nil
    }
}

/// A provider's error answer, OpenAI's shape or Anthropic's: only its code (or type) goes on. The message
/// is read only to recognise a prompt too long for the model, which Anthropic says in words alone.
package struct ProviderErrorBody: Decodable {
    package struct Detail: Decodable {
        package var code: String?

        package init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let message = (try? container.decode(String.self, forKey: .message)) ?? ""
            if message.hasPrefix("prompt is too long") || message.contains("maximum context length") {
                code = "context_length_exceeded"
                return
            }
            // A code may be a number at some providers; the type is the fallback.
            code = (try? container.decode(String.self, forKey: .code)) ?? (try? container.decode(String.self, forKey: .type))
        }

        enum CodingKeys: String, CodingKey { case code, type, message }
    }

    package var error: Detail?
}
