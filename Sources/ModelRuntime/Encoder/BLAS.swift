#if canImport(Accelerate)
    import Accelerate
#else
    import CBLAS
#endif

/// The two matrix products the encoder needs, over row-major float32 matrices.
enum BLAS {
    /// `c[m×n] = alpha · a[m×k] · bᵀ + beta · c`, where `b` is stored `n×k` (PyTorch's Linear weight layout).
    @inline(__always)
    static func multiplyTransposed(
        m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasTrans, blasInt(m), blasInt(n), blasInt(k),
            alpha, a, blasInt(lda), b, blasInt(ldb), beta, c, blasInt(ldc))
    }

    /// `c[m×n] = alpha · a[m×k] · b[k×n] + beta · c`.
    @inline(__always)
    static func multiply(
        m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasNoTrans, blasInt(m), blasInt(n), blasInt(k),
            alpha, a, blasInt(lda), b, blasInt(ldb), beta, c, blasInt(ldc))
    }

    /// Makes the library run each product on the calling thread only. The encoder splits work
    /// across threads itself, so BLAS's own workers would only spin between products and take
    /// cores from the attention and normalisation kernels that run in between.
    static let useCallingThreadOnly: Void = {
        #if !canImport(Accelerate)
            openblas_set_num_threads(1)
        #endif
    }()

    #if canImport(Accelerate)
        @inline(__always) private static func blasInt(_ value: Int) -> __LAPACK_int { __LAPACK_int(value) }
    #else
        @inline(__always) private static func blasInt(_ value: Int) -> Int32 { Int32(value) }
    #endif
}
