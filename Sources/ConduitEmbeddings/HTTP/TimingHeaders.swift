import HTTPTypes

/// Where a request's time went, in whole milliseconds, under the names text-embeddings-inference
/// uses: `x-tokenization-time`, `x-queue-time` (waiting for the model), `x-inference-time` (in the
/// model, with the rest of its batch) and `x-total-time` (from the handler's start to the answer).
package enum TimingHeaders {
    package static func fields(tokenization: Duration, queue: Duration, inference: Duration, total: Duration) -> HTTPFields {
        [
            .tokenizationTime: milliseconds(tokenization), .queueTime: milliseconds(queue),
            .inferenceTime: milliseconds(inference), .totalTime: milliseconds(total),
        ]
    }

    private static func milliseconds(_ duration: Duration) -> String {
        String(max(0, Int((duration / .milliseconds(1)).rounded())))
    }
}

extension HTTPField.Name {
    package static let tokenizationTime = Self("x-tokenization-time")!
    package static let queueTime = Self("x-queue-time")!
    package static let inferenceTime = Self("x-inference-time")!
    package static let totalTime = Self("x-total-time")!
}
