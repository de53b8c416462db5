import ConduitCore
import Foundation
import HTTPTypes
import Hummingbird
import ModelRuntime
import NIOCore
import Store
import Tracing

/// `POST /v1/embeddings`, compatible with the OpenAI API: the node's own models, and the gateway's
/// remote ones (`remote`) for a request that names one of those.
package struct EmbeddingsController {
    package let catalog: ModelCatalog
    package let limits: Live<APILimits>
    /// Nil when there is no store (tests that run without one, with authentication off).
    package let rateLimiter: RateLimiter?
    package let meter: UsageMeter
    /// Nil where the node runs no gateway.
    package var remote: (any RemoteEmbeddings)? = nil

    package func addRoutes(to router: some RouterMethods<ConduitRequestContext>) {
        router.post("/v1/embeddings") { request, context in try await embed(request, context: context) }
    }

    /// What a request has used so far, for its usage event.
    private struct Metered {
        var model = ""
        var tokens = 0
        var admitted = false
        /// Handed to the gateway, which bills it.
        var forwarded = false
    }

    package func embed(_ request: Request, context: ConduitRequestContext) async throws -> Response {
        let start = ContinuousClock.now
        var metered = Metered()
        func record(status: Int) {
            guard !metered.forwarded else { return }
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
            if !metered.admitted, !metered.forwarded, let rateLimiter {
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
        _ request: Request, context: ConduitRequestContext, start: ContinuousClock.Instant, metered: inout Metered
    ) async throws -> Response {
        let limits = self.limits.current
        // Where the node's one model is all a request can ask for, a node past what it can compute
        // refuses before it even reads the body (which the server then drains unparsed). A request that
        // names one of the gateway's chat models is then refused too, rather than told it named one.
        if remote?.hasEmbeddingModels != true, case let models = catalog.models, models.count == 1 {
            try models[0].scheduler.refuseIfSaturated(
                tenant: context.identity?.tenant ?? "", bodyBytes: request.headers[.contentLength].flatMap { Int($0) })
        }
        let bytes = try await request.body.collect(upTo: limits.maxBodyBytes)
        let body = try decodeStrictJSON(EmbeddingsRequest.self, from: bytes)
        metered.model = body.model ?? ""
        // A model of the node's own goes first: a gateway model of the same name is never reached.
        if let remote, let model = body.model, (try? catalog.resolve(model)) == nil, remote.serves(model) {
            metered.forwarded = true
            return try await remote.embed(bytes, context: context)
        }
        let served = try catalog.resolve(body.model)
        // Before the tokenizer: a node past what it can compute refuses for the cost of reading the request.
        try served.scheduler.refuseIfSaturated(tenant: context.identity?.tenant ?? "", bodyBytes: bytes.readableBytes)
        // Abandoned means connected when the request came and gone since (an in-memory test channel is never
        // connected). HangUpDetector keeps the socket read so that a hang-up closes the channel.
        let channel = context.channel
        let wasConnected = channel.isActive
        // Held until the scheduler has answered: a reload that replaces this model retires it only after.
        return try await served.scheduler.reserved {
            metered.model = served.name
            let computed = try await compute(
                body, bodyBytes: bytes.readableBytes, with: served, limits: limits, tenant: context.identity?.tenant ?? "",
                isAbandoned: { wasConnected && !channel.isActive }
            ) { tokens in
                metered.tokens = tokens
                guard let rateLimiter else { return nil }
                metered.admitted = true
                // Admission by the caller's limits; the scheduler's own (its queue bounds) is part of "embed".
                return try await withSpan("admission") { _ in try await rateLimiter.admit(context.identity, tokens: tokens) }
            }
            var headers: HTTPFields = [.contentType: "application/json"]
            headers.append(contentsOf: computed.admission?.headers ?? [:])
            headers.append(
                contentsOf: TimingHeaders.fields(
                    tokenization: computed.tokenization, queue: computed.embedded.queueTime, inference: computed.embedded.inferenceTime,
                    total: ContinuousClock.now - start))
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: computed.body))
        }
    }

    /// An answer computed by a local model.
    private struct Computed {
        var body: ByteBuffer
        var promptTokens: Int
        var admission: RateLimiter.Admission?
        var tokenization: Duration
        var embedded: EmbeddingScheduler.Embedded
    }

    /// Tokenizes `body`'s input for `served`, has `admit` admit its tokens (an admission it returns is
    /// refunded if the embedding fails), embeds it and writes OpenAI's answer. Runs inside
    /// `served.scheduler.reserved`.
    private func compute(
        _ body: EmbeddingsRequest, bodyBytes: Int, with served: ServedModel, limits: APILimits, tenant: String,
        isAbandoned: @escaping @Sendable () -> Bool,
        admit: (Int) async throws -> RateLimiter.Admission?
    ) async throws -> Computed {
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
        let tokenization = ContinuousClock.now - tokenizing
        let admission = try await admit(promptTokens)
        let embedded: EmbeddingScheduler.Embedded
        do {
            embedded = try await withSpan("embed") { _ in
                let embedded = try await served.scheduler.embedTimed(
                    sequences, tenant: tenant, bodyBytes: bodyBytes, isAbandoned: isAbandoned)
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
            vectors: vectors, format: body.encodingFormat ?? .float, model: served.name, promptTokens: promptTokens)
        return Computed(body: buffer, promptTokens: promptTokens, admission: admission, tokenization: tokenization, embedded: embedded)
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

/// The local models as a deployment of the gateway: the caller (the gateway) holds the caller's limits.
extension EmbeddingsController: LocalEmbeddings {
    package func embed(_ request: ByteBuffer, model: String, tenant: String) async throws -> (body: ByteBuffer, promptTokens: Int) {
        let body = try JSONDecoder().decode(EmbeddingsRequest.self, from: Data(request.readableBytesView))
        let served = try catalog.resolve(model)
        let limits = self.limits.current
        return try await served.scheduler.reserved {
            let computed = try await compute(
                body, bodyBytes: request.readableBytes, with: served, limits: limits, tenant: tenant, isAbandoned: { false }
            ) { _ in nil }
            return (computed.body, computed.promptTokens)
        }
    }

    package func vector(of text: String, tenant: String) async throws -> (model: String, vector: [Float])? {
        let served = try catalog.resolve(nil)
        let encoding = served.model.tokenize(text)
        guard !encoding.wasTruncated else { return nil }
        return try await served.scheduler.reserved {
            let embedded = try await served.scheduler.embedTimed([encoding.ids], tenant: tenant)
            return (served.name, TextEmbedder.unit(embedded.vectors[0]))
        }
    }
}
