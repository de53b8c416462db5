import ConduitCore
import Hummingbird
import NIOCore

/// `POST /v1/embeddings` for the embedding models of `chat.models_file`: routed to their deployments
/// (remote OpenAI-compatible APIs such as OpenAI, TEI, Infinity, vLLM or Ollama, or the node's own
/// models) as chat calls are, held against the caller's limits and billed at the deployment's prices.
package struct GatewayEmbeddings: RemoteEmbeddings {
    let gateway: ChatGateway
    let rateLimiter: RateLimiter?
    let meter: UsageMeter
    /// The route's deadline (`server.request_deadline_seconds`, shared with the local model's requests): a
    /// call ends by it, or by `chat.total_timeout_seconds` if that is sooner.
    let requestDeadline: Live<Duration>

    package static let route = "/v1/embeddings"

    package init(gateway: ChatGateway, rateLimiter: RateLimiter?, meter: UsageMeter, requestDeadline: Live<Duration>) {
        self.requestDeadline = requestDeadline
        self.gateway = gateway
        self.rateLimiter = rateLimiter
        self.meter = meter
    }

    /// Any model of the gateway: a chat model is refused with what it is (`wrong_model_kind`), not as unknown.
    package func serves(_ model: String) -> Bool { gateway.configuration.current.models[model] != nil }

    package var hasEmbeddingModels: Bool { gateway.configuration.current.models.models.contains { $0.kind == .embedding } }

    package func embed(_ bytes: ByteBuffer, context: ConduitRequestContext) async throws -> Response {
        let started = ContinuousClock.now
        let configuration = gateway.configuration.current
        let admitted = try await CallAdmission(gateway: gateway, rateLimiter: rateLimiter, meter: meter).admit(
            GatewayEmbeddingsRequest.self, route: Self.route, context: context, configuration: configuration, started: started
        ) { try parseStrictJSONObject(bytes) }
        let (body, metering) = (admitted.body, admitted.metering)
        let tenant = context.identity?.tenant ?? ""
        do {
            let (route, (answer, usage)) = try await gateway.call(
                body, model: admitted.model, configuration: configuration,
                deadline: started + min(configuration.totalTimeout, requestDeadline.current)
            ) { attempt in
                try await gateway.embeddings(body, body: bytes, at: attempt, tenant: tenant, limit: configuration.maxResponseBytes)
            }
            await metering.record(usage, status: 200, at: route.deployment)
            var headers = route.headers(contentType: "application/json")
            headers.append(contentsOf: metering.reservation.admission?.headers ?? [:])
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: answer))
        } catch {
            await metering.record(nil, status: Int(APIError(error).status.code))
            throw error
        }
    }
}
