/// The parameters of a BERT encoder, in float32, laid out for the forward pass.
struct BertWeights: Sendable {
    struct Layer: Sendable {
        /// Query, key and value projections stacked into one `3H × H` matrix, so one product computes all three.
        var qkvWeight: [Float]
        var qkvBias: [Float]
        var attentionOutputWeight: [Float]
        var attentionOutputBias: [Float]
        var attentionNormGamma: [Float]
        var attentionNormBeta: [Float]
        var intermediateWeight: [Float]
        var intermediateBias: [Float]
        var outputWeight: [Float]
        var outputBias: [Float]
        var outputNormGamma: [Float]
        var outputNormBeta: [Float]
    }

    var wordEmbeddings: [Float]
    var positionEmbeddings: [Float]
    var tokenTypeEmbeddings: [Float]
    var embeddingNormGamma: [Float]
    var embeddingNormBeta: [Float]
    var layers: [Layer]

    /// Reads the weights of `configuration`'s shape from `file`, accepting names with or without a `bert.` prefix.
    init(file: SafeTensorsFile, configuration: BertConfiguration) throws {
        let h = configuration.hiddenSize
        let i = configuration.intermediateSize
        let prefix = file.tensors["bert.embeddings.word_embeddings.weight"] != nil ? "bert." : ""
        func tensor(_ name: String, _ shape: [Int]) throws -> [Float] {
            let fullName = prefix + name
            guard let info = file.tensors[fullName] else { throw ModelRuntimeError.missingTensor(fullName) }
            guard info.shape == shape else {
                throw ModelRuntimeError.tensorShapeMismatch(name: fullName, expected: shape, actual: info.shape)
            }
            return try file.floats(fullName)
        }
        wordEmbeddings = try tensor("embeddings.word_embeddings.weight", [configuration.vocabSize, h])
        positionEmbeddings = try tensor("embeddings.position_embeddings.weight", [configuration.maxPositionEmbeddings, h])
        tokenTypeEmbeddings = try tensor("embeddings.token_type_embeddings.weight", [configuration.typeVocabSize, h])
        embeddingNormGamma = try tensor("embeddings.LayerNorm.weight", [h])
        embeddingNormBeta = try tensor("embeddings.LayerNorm.bias", [h])
        layers = try (0..<configuration.numHiddenLayers).map { index in
            let p = "encoder.layer.\(index)."
            return Layer(
                qkvWeight: try tensor(p + "attention.self.query.weight", [h, h])
                    + tensor(p + "attention.self.key.weight", [h, h])
                    + tensor(p + "attention.self.value.weight", [h, h]),
                qkvBias: try tensor(p + "attention.self.query.bias", [h])
                    + tensor(p + "attention.self.key.bias", [h])
                    + tensor(p + "attention.self.value.bias", [h]),
                attentionOutputWeight: try tensor(p + "attention.output.dense.weight", [h, h]),
                attentionOutputBias: try tensor(p + "attention.output.dense.bias", [h]),
                attentionNormGamma: try tensor(p + "attention.output.LayerNorm.weight", [h]),
                attentionNormBeta: try tensor(p + "attention.output.LayerNorm.bias", [h]),
                intermediateWeight: try tensor(p + "intermediate.dense.weight", [i, h]),
                intermediateBias: try tensor(p + "intermediate.dense.bias", [i]),
                outputWeight: try tensor(p + "output.dense.weight", [h, i]),
                outputBias: try tensor(p + "output.dense.bias", [h]),
                outputNormGamma: try tensor(p + "output.LayerNorm.weight", [h]),
                outputNormBeta: try tensor(p + "output.LayerNorm.bias", [h])
            )
        }
    }
}
