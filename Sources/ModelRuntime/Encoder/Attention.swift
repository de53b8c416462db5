import CKernels

/// Scaled dot-product attention of one sequence and head, without a mask (a batch has no padding):
/// scores, softmax and the product with V done block by block while the scores are in L1.
struct Attention: Sendable {
    let headSize: Int
    let kernel: Kernel

    /// Floats of scratch memory one `callAsFunction` needs for a sequence of `length` tokens.
    func scratchSize(length: Int) -> Int { conduit_attention_scratch_size(length, headSize) }

    /// `output = softmax(q·kᵀ / √headSize) · v` for `length` tokens: `q`, `k` and `v` rows are `stride`
    /// floats apart, output rows `outputStride` apart. `scratch` is 64-byte aligned and holds
    /// `scratchSize(length:)` floats.
    func callAsFunction(
        length: Int, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, stride: Int,
        scratch: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>, outputStride: Int
    ) {
        let scale = 1 / Float(headSize).squareRoot()
        conduit_attention_head(kernel.cValue, length, headSize, scale, q, k, v, stride, scratch, output, outputStride)
    }
}
