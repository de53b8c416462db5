/// Names of metrics that more than one module needs: the feature that records one, and the registry
/// that gives it buckets.
package enum MetricNames {
    /// Sequences in each batch of the embedding scheduler.
    package static let embeddingBatchSequences = "conduit_embedding_batch_sequences"
    /// Tokens in each batch of the embedding scheduler.
    package static let embeddingBatchTokens = "conduit_embedding_batch_tokens"
}
