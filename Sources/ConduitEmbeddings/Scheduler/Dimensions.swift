import ModelRuntime

extension EmbeddingModel {
    /// OpenAI's `dimensions`, for every route that takes it: keep the first components, then rescale to
    /// unit length when the model's vectors are unit length (a model without a Normalize module keeps
    /// its raw scale). Nil, or the model's own dimension, keeps the vectors whole.
    package func shortened(_ vectors: [[Float]], to dimensions: Int?) -> [[Float]] {
        guard let dimensions, dimensions < dimension else { return vectors }
        return vectors.map { vector in
            var short = Array(vector.prefix(dimensions))
            if normalizes { short.withUnsafeMutableBufferPointer { Self.normalize($0) } }
            return short
        }
    }
}
