import AsyncHTTPClient
import ConduitCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import Store
import Synchronization

/// `POST /v1/chat/completions`, OpenAI's API in front of the configured providers: the answer passes
/// through as the provider gave it (a stream event by event, as it arrives), with headers saying what
/// served it: `x-conduit-deployment`, `x-conduit-attempts`, and `x-conduit-fallback` (the model) when a
/// fallback did.
package struct ChatCompletionsController: Sendable {
    package let gateway: ChatGateway
    package let limits: Live<APILimits>
    package let rateLimiter: RateLimiter?
    package let meter: UsageMeter
    /// Nil where there is no store.
    let cache: ExactCache?
    /// Nil where there is no store or no local embedding model.
    let semanticCache: SemanticCache?

    package static let route = "/v1/chat/completions"

    package func addRoutes(to router: some RouterMethods<ConduitRequestContext>) {
        router.post(RouterPath(Self.route)) { request, context in try await complete(request, context: context) }
    }

    /// One call as it is served: the request, its model, and the configuration it reads throughout (a
    /// reload while it runs does not change what it does).
    private struct Call: Sendable {
        var body: ChatCompletionRequest
        var model: GatewayModel
        var configuration: ChatConfiguration
        var deadline: ContinuousClock.Instant
        var metering: Metering
    }

    private func complete(_ request: Request, context: ConduitRequestContext) async throws -> Response {
        try await serve(context: context, cacheControl: request.headers[.cacheControl] ?? "") {
            try await request.parseJSONObject(limit: limits.current.maxBodyBytes)
        }
    }

    /// Serves the call whose body `read` gives, as `context`'s caller: the route's work, and a WebSocket's chat turn's.
    func serve(context: ConduitRequestContext, cacheControl: String, read: () async throws -> [String: JSONValue]) async throws
        -> Response
    {
        let started = ContinuousClock.now
        let configuration = gateway.configuration.current
        let admitted = try await CallAdmission(gateway: gateway, rateLimiter: rateLimiter, meter: meter).admit(
            ChatCompletionRequest.self, route: Self.route, context: context, configuration: configuration, started: started, read: read)
        let (body, model, metering) = (admitted.body, admitted.model, admitted.metering)
        let call = Call(
            body: body, model: model, configuration: configuration, deadline: started + configuration.totalTimeout, metering: metering)
        do {
            var response = body.stream ? try await stream(call) : try await answer(call, cacheControl: cacheControl)
            for field in metering.reservation.admission?.headers ?? [:] { response.headers.append(field) }
            return response
        } catch {
            await metering.record(nil, status: Int(APIError(error).status.code))
            throw error
        }
    }

    private func answer(_ call: Call, cacheControl: String) async throws -> Response {
        let (body, configuration, metering) = (call.body, call.configuration, call.metering)
        let team = metering.identity?.teamID ?? ""
        // `Cache-Control: no-cache` asks for a fresh answer (kept for the next); `no-store`, that it be kept nowhere.
        let reads = !cacheControl.contains("no-cache")
        var exact: (cache: ExactCache, key: String)?
        if let cache, configuration.cacheTTL > .zero, ExactCache.isCacheable(body) {
            exact = (cache, try ExactCache.key(body, model: call.model))
        }
        if reads, let exact, let hit = await exact.cache.answer(team: team, key: exact.key) {
            return await cached(hit.body, deployment: hit.deployment, kind: "exact", call: call)
        }
        var similar: (cache: SemanticCache, prompt: SemanticCache.Prompt, threshold: Double)?
        let keeps = !cacheControl.contains("no-store")
        if let semanticCache, reads || keeps, configuration.cacheTTL > .zero, let threshold = call.model.semanticCacheThreshold,
            let (context, text) = try SemanticCache.prompt(of: body, model: call.model),
            // A prompt the local model cannot embed now (it is saturated), or not whole, leaves the call uncached.
            let prompt = try? await semanticCache.embed(text, context: context, tenant: metering.identity?.tenant ?? "")
        {
            similar = (semanticCache, prompt, threshold)
        }
        if reads, let similar, let hit = await similar.cache.answer(to: similar.prompt, team: team, threshold: similar.threshold) {
            var response = await cached(hit.body, deployment: hit.deployment, kind: "semantic", call: call)
            response.headers[Self.similarityHeader] = String(format: "%.4f", hit.similarity)
            return response
        }
        let (route, (bytes, usage)) = try await gateway.completion(
            body, model: call.model, configuration: configuration, deadline: call.deadline)
        await metering.record(usage, status: 200, at: route.deployment)
        var headers = route.headers(contentType: "application/json")
        if exact != nil || similar != nil { headers[Self.cacheHeader] = "miss" }
        if keeps {
            let (deployment, ttl) = (route.deployment.id, configuration.cacheTTL)
            if let exact { await exact.cache.keep(bytes, team: team, key: exact.key, deployment: deployment, for: ttl) }
            if let similar { await similar.cache.keep(bytes, for: similar.prompt, team: team, deployment: deployment, ttl: ttl) }
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: bytes))
    }

    /// A kept answer, given again: no provider was called, so the request counts and its tokens do not.
    private func cached(_ body: String, deployment: String, kind: String, call: Call) async -> Response {
        gateway.metrics.cacheHit(model: call.body.model, kind: kind)
        await call.metering.record(TokenUsage(promptTokens: 0, completionTokens: 0), status: 200)
        var headers: HTTPFields = [.contentType: "application/json", Self.cacheHeader: "hit"]
        headers[Self.deploymentHeader] = deployment
        headers[Self.attemptsHeader] = "0"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    private func stream(_ call: Call) async throws -> Response {
        let (body, deadline, metering) = (call.body, call.deadline, call.metering)
        let (route, upstream) = try await gateway.call(
            body, model: call.model, configuration: call.configuration, deadline: deadline, holdsDeployment: true
        ) { attempt in
            let provider = attempt.deployment.provider
            let response = try await attempt.send(try provider.body(of: body, model: attempt.deployment.model), to: provider.chatPath)
            guard response.headers.first(name: "content-type")?.lowercased().hasPrefix("text/event-stream") == true else {
                throw AttemptFailure.malformed(
                    "asked for a stream, it answered \(response.headers.first(name: "content-type") ?? "no content type")")
            }
            return response
        }
        let failures = call.configuration.circuitFailures
        let metrics = gateway.metrics
        let lease = StreamLease(state: route.state, metering: metering, deployment: route.deployment)
        var headers = route.headers(contentType: "text/event-stream")
        headers[.cacheControl] = "no-cache"
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                var relay = route.deployment.provider.relay(forwardsUsage: body.includeUsage)
                var interruption: String?
                var clientLeft = false
                var firstSent = false
                var chunks = upstream.body.makeAsyncIterator()
                while true {
                    let chunk: ByteBuffer?
                    do {
                        chunk = try await chunks.next()
                    } catch {
                        switch ProviderCall.failure(error) {
                        case let failure as AttemptFailure: interruption = "the deployment's stream broke off (\(failure))"
                        default: clientLeft = true  // cancelled: the client hung up
                        }
                        break
                    }
                    guard let chunk else {
                        if !relay.finished {
                            interruption =
                                relay.providerError.map { "the deployment reported an error in its stream (\($0))" }
                                ?? "the deployment ended the stream before [DONE]"
                        }
                        break
                    }
                    let events = relay.feed(chunk)
                    if events.readableBytes > 0 {
                        do {
                            try await writer.write(events)
                        } catch {
                            clientLeft = true
                            break
                        }
                        if !firstSent {
                            firstSent = true
                            metrics.firstToken(deployment: route.deployment.id, since: metering.started)
                        }
                    }
                    if ContinuousClock.now >= deadline {
                        interruption = "the stream ran past chat.total_timeout_seconds"
                        break
                    }
                }
                let usage = relay.usage ?? TokenUsage(promptTokens: body.promptTokens, completionTokens: relay.contentBytes / 4)
                if clientLeft {
                    // Leaving the loop drops the provider's stream, which cancels its call; what it produced is billed.
                    await lease.end(usage, status: 499)
                    return
                }
                if let interruption {
                    route.state.breaker.record(failed: true, failures: failures, isTrial: false)
                    let error = APIError(
                        status: .badGateway, message: "\(interruption), deployment '\(route.deployment.id)'", type: "upstream_error",
                        code: "upstream_stream_interrupted")
                    try? await writer.write(EventSplitter.event(try error.jsonBody()))
                }
                await lease.end(usage, status: interruption == nil ? 200 : 502)
                try await writer.finish(nil)
            })
    }

    package static let deploymentHeader = HTTPField.Name("x-conduit-deployment")!
    package static let attemptsHeader = HTTPField.Name("x-conduit-attempts")!
    package static let fallbackHeader = HTTPField.Name("x-conduit-fallback")!
    /// `hit` or `miss`, on answers the exact cache may keep.
    package static let cacheHeader = HTTPField.Name("x-cache")!
    /// On an answer the semantic cache gave: how similar the prompt it answered was.
    package static let similarityHeader = HTTPField.Name("x-cache-similarity")!

    /// Tokens held for the completion of a call that sets no `max_tokens`, until it is settled.
    static let unboundedCompletionReservation = 1024

}
/// A streamed call's hold on its deployment (a call in flight there) and on the caller's reservations,
/// given back exactly once: when the stream ends, or, when its body is never written (the client left
/// before the head went out, or the request's deadline dropped the answer), when the answer is dropped.
final class StreamLease: Sendable {
    private let state: DeploymentState
    private let metering: Metering
    private let deployment: GatewayDeployment
    private let ended = Mutex(false)

    init(state: DeploymentState, metering: Metering, deployment: GatewayDeployment) {
        self.state = state
        self.metering = metering
        self.deployment = deployment
    }

    /// Ends the call with what it used and how it ended.
    func end(_ usage: TokenUsage?, status: Int) async {
        guard claim() else { return }
        state.leave()
        await metering.record(usage, status: status, at: deployment)
    }

    private func claim() -> Bool {
        ended.withLock { ended in
            defer { ended = true }
            return !ended
        }
    }

    deinit {
        guard claim() else { return }
        state.leave()
        let (metering, deployment) = (metering, deployment)
        Task { await metering.record(nil, status: 499, at: deployment) }
    }
}
