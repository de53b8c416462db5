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
    private nonisolated(unsafe) let workspace = Workspace()

    init(configuration: BertConfiguration, weights: BertWeights) {
        self.configuration = configuration
        self.weights = weights
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
            workspace.reserve(tokens: total, longestSequence: longest, configuration: configuration)
            embed(sequences, into: workspace.hidden)
            for layer in weights.layers {
                run(layer, ranges: ranges, tokens: total, workspace: workspace)
            }
            return try body(UnsafePointer(workspace.hidden), ranges)
        }
    }

    private func embed(_ sequences: [[Int32]], into hidden: UnsafeMutablePointer<Float>) {
        let h = configuration.hiddenSize
        var row = 0
        weights.wordEmbeddings.withUnsafeBufferPointer { words in
        weights.positionEmbeddings.withUnsafeBufferPointer { positions in
        weights.tokenTypeEmbeddings.withUnsafeBufferPointer { types in
        weights.embeddingNormGamma.withUnsafeBufferPointer { gamma in
        weights.embeddingNormBeta.withUnsafeBufferPointer { beta in
            for sequence in sequences {
                for (position, id) in sequence.enumerated() {
                    let out = hidden + row * h
                    let word = words.baseAddress! + Int(id) * h
                    let place = positions.baseAddress! + position * h
                    let type = types.baseAddress!  // every token is segment 0
                    for c in 0..<h { out[c] = word[c] + place[c] + type[c] }
                    VectorMath.layerNormRow(out, columns: h, gamma: gamma.baseAddress!, beta: beta.baseAddress!,
                                            epsilon: configuration.layerNormEps)
                    row += 1
                }
            }
        }}}}}
    }

    private func run(_ layer: BertWeights.Layer, ranges: [Range<Int>], tokens: Int, workspace: Workspace) {
        let h = configuration.hiddenSize
        let inter = configuration.intermediateSize
        let heads = configuration.numAttentionHeads
        let headSize = h / heads
        let eps = configuration.layerNormEps
        let hidden = workspace.hidden
        let qkv = workspace.qkv
        let context = workspace.context
        let scores = workspace.scores

        layer.qkvWeight.withUnsafeBufferPointer { w in
            BLAS.multiplyTransposed(m: tokens, n: 3 * h, k: h, a: hidden, lda: h, b: w.baseAddress!, ldb: h, c: qkv, ldc: 3 * h)
        }
        layer.qkvBias.withUnsafeBufferPointer { bias in
            for t in 0..<tokens {
                let row = qkv + t * 3 * h
                for c in 0..<3 * h { row[c] += bias[c] }
            }
        }

        let scale = 1 / Float(headSize).squareRoot()
        for range in ranges {
            let length = range.count
            let rows = qkv + range.lowerBound * 3 * h
            for head in 0..<heads {
                let query = rows + head * headSize
                let key = rows + h + head * headSize
                let value = rows + 2 * h + head * headSize
                BLAS.multiplyTransposed(m: length, n: length, k: headSize, alpha: scale,
                                        a: query, lda: 3 * h, b: key, ldb: 3 * h, c: scores, ldc: length)
                VectorMath.softmaxRows(scores, rows: length, columns: length, stride: length)
                BLAS.multiply(m: length, n: headSize, k: length, a: scores, lda: length, b: value, ldb: 3 * h,
                              c: context + range.lowerBound * h + head * headSize, ldc: h)
            }
        }

        let projected = workspace.projected
        layer.attentionOutputWeight.withUnsafeBufferPointer { w in
            BLAS.multiplyTransposed(m: tokens, n: h, k: h, a: context, lda: h, b: w.baseAddress!, ldb: h, c: projected, ldc: h)
        }
        layer.attentionOutputBias.withUnsafeBufferPointer { bias in
        layer.attentionNormGamma.withUnsafeBufferPointer { gamma in
        layer.attentionNormBeta.withUnsafeBufferPointer { beta in
            VectorMath.addBiasResidualLayerNorm(hidden: hidden, projected: projected, rows: tokens, columns: h,
                                                bias: bias.baseAddress!, gamma: gamma.baseAddress!, beta: beta.baseAddress!, epsilon: eps)
        }}}

        let intermediate = workspace.intermediate
        layer.intermediateWeight.withUnsafeBufferPointer { w in
            BLAS.multiplyTransposed(m: tokens, n: inter, k: h, a: hidden, lda: h, b: w.baseAddress!, ldb: h, c: intermediate, ldc: inter)
        }
        layer.intermediateBias.withUnsafeBufferPointer { bias in
            VectorMath.addBiasGELU(intermediate, rows: tokens, columns: inter, bias: bias.baseAddress!)
        }
        layer.outputWeight.withUnsafeBufferPointer { w in
            BLAS.multiplyTransposed(m: tokens, n: h, k: inter, a: intermediate, lda: inter, b: w.baseAddress!, ldb: inter, c: projected, ldc: h)
        }
        layer.outputBias.withUnsafeBufferPointer { bias in
        layer.outputNormGamma.withUnsafeBufferPointer { gamma in
        layer.outputNormBeta.withUnsafeBufferPointer { beta in
            VectorMath.addBiasResidualLayerNorm(hidden: hidden, projected: projected, rows: tokens, columns: h,
                                                bias: bias.baseAddress!, gamma: gamma.baseAddress!, beta: beta.baseAddress!, epsilon: eps)
        }}}
    }
}

/// Scratch buffers for one forward pass, grown to the largest batch seen and then reused.
final class Workspace {
    private(set) var hidden = UnsafeMutablePointer<Float>.allocate(capacity: 0)
    private(set) var qkv = UnsafeMutablePointer<Float>.allocate(capacity: 0)
    private(set) var context = UnsafeMutablePointer<Float>.allocate(capacity: 0)
    private(set) var projected = UnsafeMutablePointer<Float>.allocate(capacity: 0)
    private(set) var intermediate = UnsafeMutablePointer<Float>.allocate(capacity: 0)
    private(set) var scores = UnsafeMutablePointer<Float>.allocate(capacity: 0)
    private var tokenCapacity = 0
    private var scoreCapacity = 0

    func reserve(tokens: Int, longestSequence: Int, configuration: BertConfiguration) {
        if tokens > tokenCapacity {
            free()
            let h = configuration.hiddenSize
            hidden = .allocate(capacity: tokens * h)
            qkv = .allocate(capacity: tokens * 3 * h)
            context = .allocate(capacity: tokens * h)
            projected = .allocate(capacity: tokens * h)
            intermediate = .allocate(capacity: tokens * configuration.intermediateSize)
            tokenCapacity = tokens
        }
        if longestSequence * longestSequence > scoreCapacity {
            scores.deallocate()
            scoreCapacity = longestSequence * longestSequence
            scores = .allocate(capacity: scoreCapacity)
        }
    }

    private func free() {
        for buffer in [hidden, qkv, context, projected, intermediate] { buffer.deallocate() }
    }

    deinit {
        free()
        scores.deallocate()
    }
}
