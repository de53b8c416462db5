import CKernels

/// The weight of a dense layer (`outputs` rows of `inputs` floats, PyTorch's Linear layout), kept
/// in whichever form the fastest product on this CPU reads.
///
/// Where the packed kernel runs (x86-64 with AVX2 and FMA) the weight is packed once, here, into
/// the kernel's panels: general BLAS would repack it on every call, which costs as much as the
/// arithmetic when a batch has only a few dozen tokens. Elsewhere it stays as loaded and the product
/// goes to BLAS.
final class LinearWeight: @unchecked Sendable {
    // @unchecked: written once in init and only read afterwards, from any thread.
    let outputs: Int
    let inputs: Int
    private let storage: Storage

    private enum Storage {
        case packed(UnsafeMutablePointer<Float>)
        case plain(WeightTensor)
    }

    static let packedKernelSupported = conduit_packed_gemm_supported() != 0

    /// Output columns per unit of work: ranges given to `multiply` start on a multiple of this.
    var columnGranularity: Int {
        if case .packed = storage { Int(CONDUIT_PANEL_WIDTH) } else { 1 }
    }

    init(_ values: [Float], outputs: Int, inputs: Int, packed: Bool = LinearWeight.packedKernelSupported) {
        precondition(values.count == outputs * inputs, "a weight of \(outputs)×\(inputs) needs \(outputs * inputs) values")
        self.outputs = outputs
        self.inputs = inputs
        if packed {
            let floats = conduit_packed_size(outputs, inputs)
            let memory = UnsafeMutableRawPointer.allocate(byteCount: max(floats, 1) * MemoryLayout<Float>.size, alignment: 64)
                .bindMemory(to: Float.self, capacity: max(floats, 1))
            values.withUnsafeBufferPointer { source in conduit_pack_weight(source.baseAddress, outputs, inputs, memory) }
            storage = .packed(memory)
        } else {
            storage = .plain(WeightTensor(values))
        }
    }

    deinit {
        if case .packed(let memory) = storage { UnsafeMutableRawPointer(memory).deallocate() }
    }

    /// `output[m × columns] = input[m × inputs] · weightᵀ` for the output columns `columns`, written at
    /// their own offset in rows of `outputStride` floats; `columns` starts on a multiple of
    /// `columnGranularity`. Each output depends only on its own input row, computed the same way
    /// whatever `m` is, so a sequence gets the same vector alone or inside any batch.
    func multiply(
        rows m: Int, input: UnsafePointer<Float>, inputStride: Int, columns: Range<Int>,
        into output: UnsafeMutablePointer<Float>, outputStride: Int
    ) {
        guard m > 0, !columns.isEmpty else { return }
        switch storage {
        case .packed(let memory):
            let width = Int(CONDUIT_PANEL_WIDTH)
            precondition(
                columns.lowerBound % width == 0 && (columns.upperBound % width == 0 || columns.upperBound == outputs),
                "column ranges are whole panels")
            let panels = (columns.lowerBound / width)..<((columns.upperBound + width - 1) / width)
            conduit_packed_gemm(
                m, outputs, inputs, input, inputStride, memory,
                panels.lowerBound, panels.upperBound, output + columns.lowerBound, outputStride)
        case .plain(let weight):
            BLAS.multiplyTransposed(
                m: m, n: columns.count, k: inputs, a: input, lda: inputStride, b: weight.pointer + columns.lowerBound * inputs,
                ldb: inputs, c: output + columns.lowerBound, ldc: outputStride)
        }
    }

    /// The output columns cut into ranges of about `width` columns, each of whole panels.
    func columnRanges(width: Int) -> [Range<Int>] {
        let panel = columnGranularity
        let step = max(panel, (width + panel - 1) / panel * panel)
        return stride(from: 0, to: outputs, by: step).map { $0..<min(outputs, $0 + step) }
    }
}
