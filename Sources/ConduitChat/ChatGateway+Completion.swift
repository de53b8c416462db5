import AsyncHTTPClient
import ConduitCore
import Foundation
import NIOCore

/// A chat completion Conduit asks for itself (an `llm:` pipeline's analysis), read whole.
package struct GatewayCompletion: Sendable {
    /// The first choice's text; empty when it has none (a tool call, a refusal).
    package var content: String
    package var usage: TokenUsage
    /// At the prices of the deployment that served it.
    package var costUSD: Double
    package var deployment: String
}

extension ChatGateway {
    /// Sends `body` (OpenAI's chat completion request, its `model` a served model) as a client's call is
    /// sent: to a deployment of the model or its fallbacks, with retries and circuits, within
    /// `chat.total_timeout_seconds`. Throws a `ChatError` for what went wrong, described as a client would read it.
    package func complete(_ body: [String: JSONValue]) async throws -> GatewayCompletion {
        let configuration = self.configuration.current
        let request = try ChatCompletionRequest(body)
        let model = try model(request.model, kind: .chat, in: configuration)
        let (route, (bytes, usage)) = try await completion(
            request, model: model, configuration: configuration, deadline: .now + configuration.totalTimeout)
        let answer = ChatCompletionAnswer(reading: bytes)
        let used = usage ?? TokenUsage(promptTokens: request.promptTokens, completionTokens: bytes.readableBytes / 4)
        metrics.used(used, at: route.deployment)
        return GatewayCompletion(
            content: answer?.content ?? "", usage: used,
            costUSD: route.deployment.cost(promptTokens: used.promptTokens, completionTokens: used.completionTokens),
            deployment: route.deployment.id)
    }

    /// The whole answer of a call that does not stream, as OpenAI's chat completion, with its usage when
    /// the provider gave it.
    func completion(
        _ request: ChatCompletionRequest, model: GatewayModel, configuration: ChatConfiguration, deadline: ContinuousClock.Instant
    ) async throws -> (Route, (ByteBuffer, TokenUsage?)) {
        let limit = configuration.maxResponseBytes
        return try await call(request, model: model, configuration: configuration, deadline: deadline) { attempt in
            let provider = attempt.deployment.provider
            let response = try await attempt.send(try provider.body(of: request, model: attempt.deployment.model), to: provider.chatPath)
            let (bytes, usage) = try provider.completion(from: try await attempt.read(response.body, limit: limit))
            attempt.note(usage)
            return (bytes, usage)
        }
    }
}
