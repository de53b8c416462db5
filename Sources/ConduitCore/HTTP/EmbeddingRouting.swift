import Hummingbird
import NIOCore

/// Embedding models served elsewhere (the gateway's remote deployments), to which `/v1/embeddings` hands
/// the requests that name them: the embeddings feature owns the route, the gateway the providers.
package protocol RemoteEmbeddings: Sendable {
    /// Whether `model` names one of them.
    func serves(_ model: String) -> Bool
    /// Whether any of them is an embedding model: if none is, a request can be computed only by the
    /// node's own models (or refused), whatever it names.
    var hasEmbeddingModels: Bool { get }
    /// Answers the request, whose body is `body`, as `/v1/embeddings` does: limits, billing and errors included.
    func embed(_ body: ByteBuffer, context: ConduitRequestContext) async throws -> Response
}

/// The node's own embedding models, for the gateway to call as a deployment (`provider: local`).
package protocol LocalEmbeddings: Sendable {
    /// OpenAI's embeddings answer to `body` (a client's request, already checked as JSON; its own `model` is
    /// not read) computed by the local model `model`, and its prompt tokens, queued fairly as `tenant`'s
    /// work. Throws what `/v1/embeddings` would answer (an `APIErrorConvertible`).
    func embed(_ body: ByteBuffer, model: String, tenant: String) async throws -> (body: ByteBuffer, promptTokens: Int)
    /// The unit vector of `text` by the node's default model, and that model's name, computed as promptly
    /// as an API request's; nil when the text is longer than the model reads (its vector would stand for
    /// its beginning alone).
    func vector(of text: String, tenant: String) async throws -> (model: String, vector: [Float])?
}
