import CKernels

/// Scaled dot-product attention of one sequence and head, without a mask (a batch has no padding).
///
/// Where the CPU runs it (x86-64 with AVX2 and FMA, heads a multiple of 16 wide) the fused kernel
/// does scores, softmax and the product with V block by block while the scores are in L1;
/// elsewhere two general BLAS products with the softmax between them.
struct Attention: Sendable {
    let headSize: Int
    let fused: Bool

    init(headSize: Int, fused: Bool? = nil) {
        self.headSize = headSize
        self.fused = fused ?? (conduit_attention_supported(headSize) != 0)
    }

    /// Floats of scratch memory one `callAsFunction` needs for a sequence of `length` tokens.
    func scratchSize(length: Int) -> Int {
        fused ? conduit_attention_scratch_size(length, headSize) : length * length
    }

    /// `output = softmax(q·kᵀ / √headSize) · v` for `length` tokens: `q`, `k` and `v` rows are `stride`
    /// floats apart, output rows `outputStride` apart. `scratch` is 64-byte aligned and holds
    /// `scratchSize(length:)` floats.
    func callAsFunction(
        length: Int, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, stride: Int,
        scratch: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>, outputStride: Int
    ) {
        let scale = 1 / Float(headSize).squareRoot()
        if fused {
            conduit_attention_head(length, headSize, scale, q, k, v, stride, scratch, output, outputStride)
            return
        }
        let scores = scratch
        BLAS.multiplyTransposed(
            m: length, n: length, k: headSize, alpha: scale, a: q, lda: stride, b: k, ldb: stride, c: scores, ldc: length)
        withUnsafeTemporaryAllocation(of: Float.self, capacity: length) { inverseSums in
            let inverseSums = inverseSums.baseAddress!
            // softmax(S)·V as exp(S - max)·V with each row divided by its sum afterwards.
            VectorMath.exponentiateRows(scores, rows: length, columns: length, stride: length, inverseSums: inverseSums)
            BLAS.multiply(m: length, n: headSize, k: length, a: scores, lda: length, b: v, ldb: stride, c: output, ldc: outputStride)
            VectorMath.scaleRows(output, rows: length, columns: headSize, stride: outputStride, by: inverseSums)
        }
    }
}
