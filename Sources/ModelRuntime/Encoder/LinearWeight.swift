import CKernels

/// The weight of a dense layer (`outputs` rows of `inputs` floats, PyTorch's Linear layout), packed
/// once, here, into the panels every kernel streams: general BLAS would repack it on every call,
/// which costs as much as the arithmetic when a batch has only a few dozen tokens. At `int8` it is
/// quantised as it is packed, and the products run on bytes.
final class LinearWeight: @unchecked Sendable {
    // @unchecked: written once in init and only read afterwards, from any thread.
    let outputs: Int
    let inputs: Int
    let precision: Precision
    /// Floats at fp32; bytes at int8.
    private let packed: UnsafeMutableRawPointer
    /// At int8, each output's scale and the sum of its quantised weights for every group of inputs.
    private let scales: [Float]
    private let sums: [Int32]

    /// Output columns per unit of work: ranges given to `multiply` start on a multiple of this.
    static let columnGranularity = Int(CONDUIT_PANEL_WIDTH)

    init(_ values: [Float], outputs: Int, inputs: Int, precision: Precision = .fp32) {
        precondition(values.count == outputs * inputs, "a weight of \(outputs)×\(inputs) needs \(outputs * inputs) values")
        self.outputs = outputs
        self.inputs = inputs
        self.precision = precision
        switch precision {
        case .fp32:
            let floats = max(conduit_packed_size(outputs, inputs), 1)
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: floats * MemoryLayout<Float>.size, alignment: 64)
            values.withUnsafeBufferPointer { source in
                conduit_pack_weight(source.baseAddress, outputs, inputs, buffer.bindMemory(to: Float.self, capacity: floats))
            }
            (packed, scales, sums) = (buffer, [], [])
        case .int8:
            let bytes = max(conduit_int8_packed_size(outputs, inputs), 1)
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            let count = conduit_int8_weight_scale_count(outputs, inputs)
            var scales = [Float](repeating: 0, count: count)
            var sums = [Int32](repeating: 0, count: count)
            values.withUnsafeBufferPointer { source in
                conduit_int8_pack_weight(
                    source.baseAddress, outputs, inputs, buffer.bindMemory(to: Int8.self, capacity: bytes), &scales, &sums)
            }
            (packed, self.scales, self.sums) = (buffer, scales, sums)
        }
    }

    deinit { packed.deallocate() }

    /// `output[m × columns] = input[m × inputs] · weightᵀ` for the output columns `columns`, written at
    /// their own offset in rows of `outputStride` floats, by `kernel`; `columns` starts on a multiple
    /// of `columnGranularity`. Each output depends only on its own input row, computed the same way
    /// whatever `m` is, so a sequence gets the same vector alone or inside any batch.
    func multiply(
        rows m: Int, input: UnsafePointer<Float>, inputStride: Int, columns: Range<Int>,
        into output: UnsafeMutablePointer<Float>, outputStride: Int, kernel: Kernel
    ) {
        guard m > 0, !columns.isEmpty else { return }
        let panels = panelRange(columns)
        switch precision {
        case .fp32:
            conduit_packed_gemm(
                kernel.cValue, m, outputs, inputs, input, inputStride, packed.assumingMemoryBound(to: Float.self),
                panels.lowerBound, panels.upperBound, output + columns.lowerBound, outputStride)
        case .int8:
            conduit_int8_gemm(
                kernel.cValue, m, outputs, inputs, input, inputStride, packed.assumingMemoryBound(to: Int8.self), scales, sums,
                panels.lowerBound, panels.upperBound, output + columns.lowerBound, outputStride)
        }
    }

    /// Rows of a layer's input quantised to bytes, once for every part of a product shared out by columns.
    struct QuantizedRows: Sendable {
        let count: Int
        let bytesPerRow: Int
        let bytes: [UInt8]
        let scales: [Float]
        let zeroPoints: [Int32]
    }

    /// At int8, `input`'s `m` rows quantised for ``multiply(_:columns:into:outputStride:kernel:)``; nil at fp32.
    func quantize(rows m: Int, input: UnsafePointer<Float>, inputStride: Int) -> QuantizedRows? {
        guard precision == .int8 else { return nil }
        let bytesPerRow = conduit_int8_row_bytes(inputs)
        let groups = conduit_int8_groups(inputs)
        var bytes = [UInt8](repeating: 0, count: m * bytesPerRow)
        var scales = [Float](repeating: 0, count: m * groups)
        var zeroPoints = [Int32](repeating: 0, count: m * groups)
        conduit_int8_quantize_rows(m, inputs, input, inputStride, &bytes, bytesPerRow, &scales, &zeroPoints)
        return QuantizedRows(count: m, bytesPerRow: bytesPerRow, bytes: bytes, scales: scales, zeroPoints: zeroPoints)
    }

    /// ``multiply(rows:input:inputStride:columns:into:outputStride:kernel:)`` on rows quantised by ``quantize(rows:input:inputStride:)``.
    func multiply(
        _ rows: QuantizedRows, columns: Range<Int>, into output: UnsafeMutablePointer<Float>, outputStride: Int, kernel: Kernel
    ) {
        guard rows.count > 0, !columns.isEmpty else { return }
        let panels = panelRange(columns)
        conduit_int8_gemm_quantized(
            kernel.cValue, rows.count, outputs, inputs, rows.bytes, rows.bytesPerRow, rows.scales, rows.zeroPoints,
            packed.assumingMemoryBound(to: Int8.self), scales, sums, panels.lowerBound, panels.upperBound,
            output + columns.lowerBound, outputStride)
    }

    /// The panels that hold `columns`, which start on a panel and end on one or at the last output.
    private func panelRange(_ columns: Range<Int>) -> Range<Int> {
        let width = Self.columnGranularity
        precondition(
            columns.lowerBound % width == 0 && (columns.upperBound % width == 0 || columns.upperBound == outputs),
            "column ranges are whole panels")
        return (columns.lowerBound / width)..<((columns.upperBound + width - 1) / width)
    }

    /// The output columns cut into ranges of about `width` columns, each of whole panels.
    func columnRanges(width: Int) -> [Range<Int>] {
        let panel = Self.columnGranularity
        let step = max(panel, (width + panel - 1) / panel * panel)
        return stride(from: 0, to: outputs, by: step).map { $0..<min(outputs, $0 + step) }
    }
}
