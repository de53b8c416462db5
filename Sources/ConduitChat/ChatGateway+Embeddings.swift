import AsyncHTTPClient
import ConduitCore
import Foundation
import HTTPTypes
import NIOCore

extension ChatGateway {
    /// One attempt at embeddings: a remote deployment's `/embeddings`, or the node's own model in process
    /// (given the client's `body` as it came, which `request` was read from). Returns OpenAI's answer and its
    /// usage (the input's estimate when the provider gave none).
    func embeddings(
        _ request: GatewayEmbeddingsRequest, body: ByteBuffer, at attempt: ProviderCall, tenant: String, limit: Int
    ) async throws -> (ByteBuffer, TokenUsage) {
        let deployment = attempt.deployment
        guard deployment.provider == .local else {
            let response = try await attempt.send(request.upstreamBody(model: deployment.model), to: "embeddings")
            let body = try await attempt.read(response.body, limit: limit)
            guard let answer = try? JSONDecoder().decode(EmbeddingsAnswer.self, from: Data(body.readableBytesView)) else {
                throw AttemptFailure.malformed("not a list of embeddings")
            }
            attempt.note(answer.usage)
            return (body, answer.usage ?? TokenUsage(promptTokens: request.promptTokens, completionTokens: 0))
        }
        guard let local else { throw AttemptFailure.unreachable("this node serves no embedding model of its own") }
        do {
            let (answer, tokens) = try await local.embed(body, model: deployment.model, tenant: tenant)
            let usage = TokenUsage(promptTokens: tokens, completionTokens: 0)
            attempt.note(usage)
            return (answer, usage)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            let refusal = APIError(error)
            let status = Int(refusal.status.code)
            // The input's own fault (too long, too many) is said as the local model says it; the rest (full,
            // timed out, a model this node does not serve) lets another deployment try.
            guard status >= 500 || [404, 408, 429].contains(status) else { throw refusal }
            let retryAfter = refusal.headers[.retryAfter].flatMap(Double.init).map { Duration.milliseconds(Int($0 * 1000)) }
            throw AttemptFailure.status(status, code: refusal.code, retryAfter: retryAfter)
        }
    }
}

/// What is read of an OpenAI-compatible embeddings answer: that it is a list, and its usage.
private struct EmbeddingsAnswer: Decodable {
    var data: [JSONValue]
    var usage: TokenUsage?

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        data = try container.decode([JSONValue].self, forKey: .data)
        usage = try? container.decode(TokenUsage.self, forKey: .usage)
    }

    enum CodingKeys: String, CodingKey { case data, usage }
}
