/// The parameters of a BERT encoder, in float32, laid out for the forward pass.
struct BertWeights: Sendable {
    struct Layer: Sendable {
        /// Query, key and value projections stacked into one `3H × H` matrix, so one product computes all three.
        var qkvWeight: LinearWeight
        var qkvBias: WeightTensor
        var attentionOutputWeight: LinearWeight
        var attentionOutputBias: WeightTensor
        var attentionNormGamma: WeightTensor
        var attentionNormBeta: WeightTensor
        var intermediateWeight: LinearWeight
        var intermediateBias: WeightTensor
        var outputWeight: LinearWeight
        var outputBias: WeightTensor
        var outputNormGamma: WeightTensor
        var outputNormBeta: WeightTensor
    }

    var wordEmbeddings: WeightTensor
    var positionEmbeddings: WeightTensor
    var tokenTypeEmbeddings: WeightTensor
    var embeddingNormGamma: WeightTensor
    var embeddingNormBeta: WeightTensor
    var layers: [Layer]

    /// Reads the weights of `configuration`'s shape from `file`, accepting names with or without a `bert.` prefix.
    /// The dense layers' weights are packed for `precision`.
    init(file: SafeTensorsFile, configuration: BertConfiguration, precision: Precision) throws {
        let h = configuration.hiddenSize
        let i = configuration.intermediateSize
        let prefix = file.tensors["bert.embeddings.word_embeddings.weight"] != nil ? "bert." : ""
        func values(_ name: String, _ shape: [Int]) throws -> [Float] {
            let fullName = prefix + name
            guard let info = file.tensors[fullName] else { throw ModelRuntimeError.missingTensor(fullName) }
            guard info.shape == shape else {
                throw ModelRuntimeError.tensorShapeMismatch(name: fullName, expected: shape, actual: info.shape)
            }
            return try file.floats(fullName)
        }
        func tensor(_ name: String, _ shape: [Int]) throws -> WeightTensor {
            WeightTensor(try values(name, shape))
        }
        func stacked(_ names: [String], _ shape: [Int]) throws -> WeightTensor {
            WeightTensor(try names.flatMap { try values($0, shape) })
        }
        func dense(_ names: [String], outputs: Int, inputs: Int) throws -> LinearWeight {
            let shape = [outputs / names.count, inputs]
            return LinearWeight(try names.flatMap { try values($0, shape) }, outputs: outputs, inputs: inputs, precision: precision)
        }
        wordEmbeddings = try tensor("embeddings.word_embeddings.weight", [configuration.vocabSize, h])
        positionEmbeddings = try tensor("embeddings.position_embeddings.weight", [configuration.maxPositionEmbeddings, h])
        tokenTypeEmbeddings = try tensor("embeddings.token_type_embeddings.weight", [configuration.typeVocabSize, h])
        embeddingNormGamma = try tensor("embeddings.LayerNorm.weight", [h])
        embeddingNormBeta = try tensor("embeddings.LayerNorm.bias", [h])
        layers = try (0..<configuration.numHiddenLayers).map { index in
            let p = "encoder.layer.\(index)."
            return Layer(
                qkvWeight: try dense(["query", "key", "value"].map { p + "attention.self.\($0).weight" }, outputs: 3 * h, inputs: h),
                qkvBias: try stacked(["query", "key", "value"].map { p + "attention.self.\($0).bias" }, [h]),
                attentionOutputWeight: try dense([p + "attention.output.dense.weight"], outputs: h, inputs: h),
                attentionOutputBias: try tensor(p + "attention.output.dense.bias", [h]),
                attentionNormGamma: try tensor(p + "attention.output.LayerNorm.weight", [h]),
                attentionNormBeta: try tensor(p + "attention.output.LayerNorm.bias", [h]),
                intermediateWeight: try dense([p + "intermediate.dense.weight"], outputs: i, inputs: h),
                intermediateBias: try tensor(p + "intermediate.dense.bias", [i]),
                outputWeight: try dense([p + "output.dense.weight"], outputs: h, inputs: i),
                outputBias: try tensor(p + "output.dense.bias", [h]),
                outputNormGamma: try tensor(p + "output.LayerNorm.weight", [h]),
                outputNormBeta: try tensor(p + "output.LayerNorm.bias", [h])
            )
        }
    }
}
