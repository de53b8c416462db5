/// Float32 weights in memory of their own, at an address that stays put, so the forward pass can
/// hand them to BLAS and the SIMD kernels without re-borrowing an array at every use.
final class WeightTensor: @unchecked Sendable {
    // @unchecked: written once in init and only read afterwards, from any thread.
    let pointer: UnsafePointer<Float>
    let count: Int

    init(_ values: [Float]) {
        let storage = UnsafeMutablePointer<Float>.allocate(capacity: max(values.count, 1))
        storage.initialize(from: values, count: values.count)
        pointer = UnsafePointer(storage)
        count = values.count
    }

    deinit {
        UnsafeMutablePointer(mutating: pointer).deallocate()
    }
}
