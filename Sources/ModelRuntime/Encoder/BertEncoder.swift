import CKernels
import Foundation
import Synchronization

/// A BERT encoder that runs a batch of sequences with no padding.
///
/// Dense layers run once over the concatenated tokens of every sequence (one large GEMM
/// instead of one per sequence, and no work on padding); attention runs per sequence and head.
/// Calls are serialized: the scratch memory is reused across calls under a lock.
public final class BertEncoder: Sendable {
    public let configuration: BertConfiguration
    let weights: BertWeights
    private let lock = Mutex(())
    // Touched only while `lock` is held, so one forward pass at a time owns it.
    private nonisolated(unsafe) let workspace: Workspace
    private let parallel: Parallel
    /// How many threads one forward pass uses.
    public var threads: Int { parallel.threads }
    private let attentionHead: Attention
    /// The instruction set its products run with.
    let kernel: Kernel

    /// - Parameter threads: how many threads one forward pass uses (by default, one per core).
    init(
        configuration: BertConfiguration, weights: BertWeights, kernel: Kernel,
        threads: Int = ProcessInfo.processInfo.activeProcessorCount
    ) {
        self.configuration = configuration
        self.weights = weights
        self.kernel = kernel
        self.parallel = Parallel(threads: max(1, threads))
        self.attentionHead = Attention(headSize: configuration.hiddenSize / configuration.numAttentionHeads, kernel: kernel)
        self.workspace = Workspace(threads: max(1, threads))
    }

    /// The last hidden state of every token: one `[tokens × hidden]` row block per sequence, concatenated.
    ///
    /// - Parameter sequences: token ids, each sequence at most `maxPositionEmbeddings` long.
    /// - Parameter body: receives the hidden states and each sequence's row range; valid only during the call.
    func encode<Result>(
        _ sequences: [[Int32]],
        _ body: (UnsafePointer<Float>, [Range<Int>]) throws -> Result
    ) throws -> Result {
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(sequences.count)
        var total = 0
        for sequence in sequences {
            // Pooling reads a sequence's first row: with no rows it would read another sequence's, or past the buffer.
            guard !sequence.isEmpty else { throw ModelRuntimeError.emptySequence }
            guard sequence.count <= configuration.maxPositionEmbeddings else {
                throw ModelRuntimeError.sequenceTooLong(length: sequence.count, limit: configuration.maxPositionEmbeddings)
            }
            for id in sequence where id < 0 || Int(id) >= configuration.vocabSize {
                throw ModelRuntimeError.tokenIDOutOfRange(id: Int(id), vocabularySize: configuration.vocabSize)
            }
            ranges.append(total..<total + sequence.count)
            total += sequence.count
        }
        return try lock.withLock { _ in
            let longest = sequences.map(\.count).max() ?? 0
            workspace.reserve(
                tokens: total, attentionScratch: attentionHead.scratchSize(length: longest), configuration: configuration)
            embed(sequences, into: workspace.hidden)
            for layer in weights.layers {
                run(layer, ranges: ranges, tokens: total, workspace: workspace)
            }
            return try body(UnsafePointer(workspace.hidden), ranges)
        }
    }

    /// Hands back the scratch memory a large pass left resident (see ``Workspace/release()``); waits for
    /// a pass in progress.
    func releaseScratch() { lock.withLock { _ in workspace.release() } }

    /// Bytes of scratch memory now in RAM.
    var scratchResidentBytes: Int { lock.withLock { _ in workspace.residentBytes } }

    private func embed(_ sequences: [[Int32]], into hidden: UnsafeMutablePointer<Float>) {
        let h = configuration.hiddenSize
        var row = 0
        let words = weights.wordEmbeddings.pointer
        let positions = weights.positionEmbeddings.pointer
        let segment = weights.tokenTypeEmbeddings.pointer  // every token is segment 0
        for sequence in sequences {
            for (position, id) in sequence.enumerated() {
                let out = hidden + row * h
                let word = words + Int(id) * h
                let place = positions + position * h
                for c in 0..<h { out[c] = word[c] + place[c] + segment[c] }
                VectorMath.layerNormRow(
                    out, columns: h, gamma: weights.embeddingNormGamma.pointer,
                    beta: weights.embeddingNormBeta.pointer, epsilon: configuration.layerNormEps)
                row += 1
            }
        }
    }

    /// What finishes the outputs of a dense layer.
    private enum Epilogue {
        /// Each output on its own (bias, activation): done by each unit on what it computed.
        case elementwise
        /// Whole rows at once (a norm): done on whole rows only.
        case rowwise
    }

    /// `output[m×n] = input[m×k] · weightᵀ` in units of rows when there are enough of them, else of
    /// output columns; `epilogue(rows, columns)` then finishes the outputs (bias, activation, norm),
    /// always on whole rows when `kind` is `.rowwise`.
    private func linear(
        _ input: UnsafePointer<Float>, rows m: Int, weight: LinearWeight, into output: UnsafeMutablePointer<Float>,
        _ kind: Epilogue, epilogue: (_ rows: Range<Int>, _ columns: Range<Int>) -> Void
    ) {
        let k = weight.inputs
        let n = weight.outputs
        if m >= 2 * Self.rowsPerUnit || parallel.threads == 1 {
            let rowRanges = Self.rowUnits(m, threads: parallel.threads, tileRows: Int(conduit_kernel_tile_rows(kernel.cValue)))
            parallel.forEachUnit(rowRanges.count) { _, unit in
                let rows = rowRanges[unit]
                weight.multiply(
                    rows: rows.count, input: input + rows.lowerBound * k, inputStride: k, columns: 0..<n,
                    into: output + rows.lowerBound * n, outputStride: n, kernel: kernel)
                epilogue(rows, 0..<n)
            }
        } else {
            let columnUnits = weight.columnRanges(width: Self.columnsPerUnit)
            // At int8 the rows are quantised once, not by every unit.
            let quantized = weight.quantize(rows: m, input: input, inputStride: k)
            parallel.forEachUnit(columnUnits.count) { _, unit in
                let columns = columnUnits[unit]
                if let quantized {
                    weight.multiply(quantized, columns: columns, into: output, outputStride: n, kernel: kernel)
                } else {
                    weight.multiply(rows: m, input: input, inputStride: k, columns: columns, into: output, outputStride: n, kernel: kernel)
                }
                if kind == .elementwise { epilogue(0..<m, columns) }
            }
            if kind == .rowwise { epilogue(0..<m, 0..<n) }
        }
    }

    /// Rows per unit of work in a dense layer, at least: enough that each pass over the weight is reused.
    private static let rowsPerUnit = 48

    /// `0..<m` cut into units of about `rowsPerUnit` rows, as many as a multiple of `threads` so that
    /// no thread is left with one unit more than the others, each starting on a multiple of the
    /// kernel's tile height (`tileRows`).
    private static func rowUnits(_ m: Int, threads: Int, tileRows: Int) -> [Range<Int>] {
        let parts = threads * max(1, m / (threads * rowsPerUnit))
        let bounds = (0...parts).map { part in part == parts ? m : m * part / parts / tileRows * tileRows }
        return (0..<parts).map { bounds[$0]..<bounds[$0 + 1] }
    }
    /// Output columns per unit when a batch has too few rows to share out.
    private static let columnsPerUnit = 64

    private func run(_ layer: BertWeights.Layer, ranges: [Range<Int>], tokens: Int, workspace: Workspace) {
        let h = configuration.hiddenSize
        let inter = configuration.intermediateSize
        let eps = configuration.layerNormEps
        let hidden = workspace.hidden
        let qkv = workspace.qkv

        linear(hidden, rows: tokens, weight: layer.qkvWeight, into: qkv, .elementwise) { rows, columns in
            for t in rows {
                VectorMath.addBias(
                    qkv + t * 3 * h + columns.lowerBound, layer.qkvBias.pointer + columns.lowerBound, count: columns.count)
            }
        }
        attention(qkv: qkv, ranges: ranges, workspace: workspace)

        let projected = workspace.projected
        linear(workspace.context, rows: tokens, weight: layer.attentionOutputWeight, into: projected, .rowwise) {
            rows, _ in
            VectorMath.addBiasResidualLayerNorm(
                hidden: hidden + rows.lowerBound * h, projected: projected + rows.lowerBound * h, rows: rows.count, columns: h,
                bias: layer.attentionOutputBias.pointer, gamma: layer.attentionNormGamma.pointer,
                beta: layer.attentionNormBeta.pointer, epsilon: eps)
        }

        let intermediate = workspace.intermediate
        linear(hidden, rows: tokens, weight: layer.intermediateWeight, into: intermediate, .elementwise) { rows, columns in
            VectorMath.addBiasGELU(
                intermediate + rows.lowerBound * inter, rows: rows.count, columns: columns, stride: inter,
                bias: layer.intermediateBias.pointer)
        }
        linear(intermediate, rows: tokens, weight: layer.outputWeight, into: projected, .rowwise) { rows, _ in
            VectorMath.addBiasResidualLayerNorm(
                hidden: hidden + rows.lowerBound * h, projected: projected + rows.lowerBound * h, rows: rows.count, columns: h,
                bias: layer.outputBias.pointer, gamma: layer.outputNormGamma.pointer, beta: layer.outputNormBeta.pointer, epsilon: eps)
        }
    }

    /// Scaled dot-product attention of every sequence and head, each (sequence, head) pair a unit
    /// of work handed to whichever thread is free.
    private func attention(qkv: UnsafeMutablePointer<Float>, ranges: [Range<Int>], workspace: Workspace) {
        let h = configuration.hiddenSize
        let heads = configuration.numAttentionHeads
        let headSize = attentionHead.headSize
        let context = workspace.context
        parallel.forEachUnit(ranges.count * heads) { thread, unit in
            let range = ranges[unit / heads]
            let offset = (unit % heads) * headSize
            let rows = qkv + range.lowerBound * 3 * h + offset
            attentionHead(
                length: range.count, q: rows, k: rows + h, v: rows + 2 * h, stride: 3 * h,
                scratch: workspace.attentionScratch(for: thread), output: context + range.lowerBound * h + offset, outputStride: h)
        }
    }
}

/// Scratch buffers for one forward pass, grown to the largest batch seen and then reused; what a
/// pass past `retainedTokens` touched is handed back when the encoder goes idle (`release`).
final class Workspace {
    /// Tokens whose scratch memory stays resident between passes (about 15 kB a token for MiniLM): a
    /// short request never waits for pages, and a 4,096-token pass gives back all but this.
    static let retainedTokens = 512

    /// hidden, qkv, context, projected and intermediate, each `tokenCapacity` rows.
    private var tokenBuffers = (0..<5).map { _ in ScratchMemory(floats: 0) }
    private var attentionMemory = ScratchMemory(floats: 0)
    var hidden: UnsafeMutablePointer<Float> { tokenBuffers[0].pointer }
    var qkv: UnsafeMutablePointer<Float> { tokenBuffers[1].pointer }
    var context: UnsafeMutablePointer<Float> { tokenBuffers[2].pointer }
    var projected: UnsafeMutablePointer<Float> { tokenBuffers[3].pointer }
    var intermediate: UnsafeMutablePointer<Float> { tokenBuffers[4].pointer }
    private var tokenCapacity = 0
    /// The most tokens a pass touched since the last `release`.
    private var touchedTokens = 0
    private var scratchCapacity = 0
    private let threads: Int

    init(threads: Int) { self.threads = threads }

    /// The attention scratch memory of one thread, 64-byte aligned.
    func attentionScratch(for thread: Int) -> UnsafeMutablePointer<Float> { attentionMemory.pointer + thread * scratchCapacity }

    func reserve(tokens: Int, attentionScratch floats: Int, configuration: BertConfiguration) {
        touchedTokens = max(touchedTokens, tokens)
        if tokens > tokenCapacity {
            let h = configuration.hiddenSize
            tokenBuffers = [h, 3 * h, h, h, configuration.intermediateSize].map { ScratchMemory(floats: tokens * $0) }
            tokenCapacity = tokens
        }
        if floats > scratchCapacity {
            // Whole cache lines per thread, so that every thread's part starts aligned and no two share a line.
            scratchCapacity = (floats + 15) / 16 * 16
            attentionMemory = ScratchMemory(floats: scratchCapacity * threads)
        }
    }

    /// Hands back the memory past `retainedTokens` tokens; the capacity stays, and its pages return
    /// when a pass touches them again.
    func release() {
        defer { touchedTokens = min(touchedTokens, Self.retainedTokens) }
        guard touchedTokens > Self.retainedTokens else { return }
        for buffer in tokenBuffers { buffer.release(keepingFloats: buffer.floats / tokenCapacity * Self.retainedTokens) }
    }

    /// Bytes of scratch memory now in RAM.
    var residentBytes: Int { tokenBuffers.reduce(attentionMemory.residentBytes) { $0 + $1.residentBytes } }
}
