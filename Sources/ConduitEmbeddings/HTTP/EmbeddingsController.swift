import ConduitCore
import Foundation
import HTTPTypes
import Hummingbird
import ModelRuntime
import NIOCore
import Store
import Tracing

/// `POST /v1/embeddings`, compatible with the OpenAI API.
package struct EmbeddingsController {
    package let catalog: ModelCatalog
    package let limits: Live<APILimits>
    /// Nil when there is no store (tests that run without one, with authentication off).
    package let rateLimiter: RateLimiter?
    package let meter: UsageMeter

    package func addRoutes(to router: some RouterMethods<ConduitRequestContext>) {
        router.post("/v1/embeddings") { request, context in try await embed(request, context: context) }
    }

    package func embed(_ request: Request, context: ConduitRequestContext) async throws -> Response {
        let start = ContinuousClock.now
        var metered = (model: "", tokens: 0, admitted: false)
        func record(status: Int) {
            meter.record(
                teamID: context.identity?.teamID, keyID: context.identity?.keyID, model: metered.model, route: "/v1/embeddings",
                tokens: metered.tokens, status: status, since: start)
        }
        do {
            let response = try await embed(request, context: context, start: start, metered: &metered)
            record(status: Int(response.status.code))
            return response
        } catch {
            let refusal = APIError(error)
            if !metered.admitted, let rateLimiter {
                do {
                    try await rateLimiter.countRefused(refusal, identity: context.identity)
                } catch {
                    record(status: Int(APIError(error).status.code))
                    throw error
                }
            }
            record(status: Int(refusal.status.code))
            throw error
        }
    }

    private func embed(
        _ request: Request, context: ConduitRequestContext, start: ContinuousClock.Instant,
        metered: inout (model: String, tokens: Int, admitted: Bool)
    ) async throws -> Response {
        let limits = self.limits.current
        let body = try await request.decodeJSON(as: EmbeddingsRequest.self, limit: limits.maxBodyBytes)
        metered.model = body.model ?? ""
        let served = try catalog.resolve(body.model)
        // Held until the scheduler has answered: a reload that replaces this model retires it only after.
        return try await served.scheduler.reserved {
            metered.model = served.name
            let model = served.model
            if let dimensions = body.dimensions, !(1...model.dimension).contains(dimensions) {
                throw EmbeddingsError.dimensionsOutOfRange(dimensions, dimension: model.dimension)
            }
            let tokenizing = ContinuousClock.now
            let (sequences, promptTokens) = try withSpan("tokenize") { span in
                let (sequences, tokens) = try tokenize(body.input, model: model, limits: limits)
                span.updateAttributes { attributes in
                    attributes["conduit.inputs"] = sequences.count
                    attributes["conduit.tokens"] = tokens
                }
                return (sequences, tokens)
            }
            let tokenizationTime = ContinuousClock.now - tokenizing
            metered.tokens = promptTokens
            // Admission by the caller's limits; the scheduler's own (its queue bounds) is part of "embed".
            var admission: RateLimiter.Admission?
            if let rateLimiter {
                metered.admitted = true
                admission = try await withSpan("admission") { _ in try await rateLimiter.admit(context.identity, tokens: promptTokens) }
            }

            // Abandoned means connected when the request came and gone since (an in-memory test channel is never
            // connected). HangUpDetector keeps the socket read so that a hang-up closes the channel.
            let channel = context.channel
            let wasConnected = channel.isActive
            let embedded: EmbeddingScheduler.Embedded
            do {
                embedded = try await withSpan("embed") { _ in
                    let embedded = try await served.scheduler.embedTimed(
                        sequences, tenant: context.identity.map { $0.keyID ?? "team:" + $0.teamID } ?? "",
                        isAbandoned: { wasConnected && !channel.isActive })
                    embedded.recordSpans()
                    return embedded
                }
            } catch {
                // Not served (overloaded, timed out, shutting down, or the client left): not charged either.
                if let admission, let rateLimiter { await rateLimiter.refund(admission) }
                throw error
            }
            let vectors = model.shortened(embedded.vectors, to: body.dimensions)
            let buffer = EmbeddingsResponse.write(
                vectors: vectors, format: body.encodingFormat ?? .float,
                model: served.name, promptTokens: promptTokens)
            var headers: HTTPFields = [.contentType: "application/json"]
            headers.append(contentsOf: admission?.headers ?? [:])
            headers.append(
                contentsOf: TimingHeaders.fields(
                    tokenization: tokenizationTime, queue: embedded.queueTime, inference: embedded.inferenceTime,
                    total: ContinuousClock.now - start))
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: buffer))
        }
    }

    /// Token ids for each input, validated against the model's limits; also the total token count.
    private func tokenize(_ input: EmbeddingInput, model: EmbeddingModel, limits: APILimits) throws -> ([[Int32]], Int) {
        guard input.count > 0 else { throw EmbeddingsError.noInputs(param: "input") }
        guard input.count <= limits.maxInputs else {
            throw EmbeddingsError.tooManyInputs(input.count, limit: limits.maxInputs, param: "input")
        }
        var sequences: [[Int32]] = []
        sequences.reserveCapacity(input.count)
        switch input {
        case .texts(let texts):
            for (index, text) in texts.enumerated() {
                guard !text.isEmpty else { throw EmbeddingsError.emptyText(index: index) }
                let encoding = try limits.encode(text, index: index, model: model)
                guard encoding.count > 0 else { throw EmbeddingsError.noTokens(index: index) }
                sequences.append(encoding.ids)
            }
        case .tokens(let batches):
            for (index, ids) in batches.enumerated() {
                sequences.append(try limits.sequence(ofTokenIDs: ids, index: index, model: model))
            }
        }
        let tokens = sequences.reduce(0) { $0 + $1.count }
        guard tokens <= limits.maxRequestTokens else { throw LimitError.requestTooLarge(tokens: tokens, limit: limits.maxRequestTokens) }
        return (sequences, tokens)
    }
}
