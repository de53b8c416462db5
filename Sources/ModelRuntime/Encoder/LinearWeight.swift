import CKernels

/// The weight of a dense layer (`outputs` rows of `inputs` floats, PyTorch's Linear layout), packed
/// once, here, into the panels every kernel streams: general BLAS would repack it on every call,
/// which costs as much as the arithmetic when a batch has only a few dozen tokens.
final class LinearWeight: @unchecked Sendable {
    // @unchecked: written once in init and only read afterwards, from any thread.
    let outputs: Int
    let inputs: Int
    private let packed: UnsafeMutablePointer<Float>

    /// Output columns per unit of work: ranges given to `multiply` start on a multiple of this.
    static let columnGranularity = Int(CONDUIT_PANEL_WIDTH)

    init(_ values: [Float], outputs: Int, inputs: Int) {
        precondition(values.count == outputs * inputs, "a weight of \(outputs)×\(inputs) needs \(outputs * inputs) values")
        self.outputs = outputs
        self.inputs = inputs
        let floats = max(conduit_packed_size(outputs, inputs), 1)
        packed = UnsafeMutableRawPointer.allocate(byteCount: floats * MemoryLayout<Float>.size, alignment: 64)
            .bindMemory(to: Float.self, capacity: floats)
        values.withUnsafeBufferPointer { source in conduit_pack_weight(source.baseAddress, outputs, inputs, packed) }
    }

    deinit { UnsafeMutableRawPointer(packed).deallocate() }

    /// `output[m × columns] = input[m × inputs] · weightᵀ` for the output columns `columns`, written at
    /// their own offset in rows of `outputStride` floats, by `kernel`; `columns` starts on a multiple
    /// of `columnGranularity`. Each output depends only on its own input row, computed the same way
    /// whatever `m` is, so a sequence gets the same vector alone or inside any batch.
    func multiply(
        rows m: Int, input: UnsafePointer<Float>, inputStride: Int, columns: Range<Int>,
        into output: UnsafeMutablePointer<Float>, outputStride: Int, kernel: Kernel
    ) {
        guard m > 0, !columns.isEmpty else { return }
        let width = Self.columnGranularity
        precondition(
            columns.lowerBound % width == 0 && (columns.upperBound % width == 0 || columns.upperBound == outputs),
            "column ranges are whole panels")
        let panels = (columns.lowerBound / width)..<((columns.upperBound + width - 1) / width)
        conduit_packed_gemm(
            kernel.cValue, m, outputs, inputs, input, inputStride, packed,
            panels.lowerBound, panels.upperBound, output + columns.lowerBound, outputStride)
    }

    /// The output columns cut into ranges of about `width` columns, each of whole panels.
    func columnRanges(width: Int) -> [Range<Int>] {
        let panel = Self.columnGranularity
        let step = max(panel, (width + panel - 1) / panel * panel)
        return stride(from: 0, to: outputs, by: step).map { $0..<min(outputs, $0 + step) }
    }
}
