import Foundation

/// The fields of a Hugging Face `config.json` that a BERT encoder needs.
public struct BertConfiguration: Sendable, Equatable, Decodable {
    public var modelType: String
    public var hiddenSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var intermediateSize: Int
    public var hiddenAct: String
    public var maxPositionEmbeddings: Int
    public var typeVocabSize: Int
    public var vocabSize: Int
    public var layerNormEps: Float
    public var positionEmbeddingType: String?

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type"
        case hiddenSize = "hidden_size"
        case numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads"
        case intermediateSize = "intermediate_size"
        case hiddenAct = "hidden_act"
        case maxPositionEmbeddings = "max_position_embeddings"
        case typeVocabSize = "type_vocab_size"
        case vocabSize = "vocab_size"
        case layerNormEps = "layer_norm_eps"
        case positionEmbeddingType = "position_embedding_type"
    }

    /// Model types whose checkpoints share BERT's encoder layout and can run here.
    public static let supportedModelTypes: Set<String> = ["bert"]

    public static func load(contentsOf url: URL) throws -> BertConfiguration {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw ModelRuntimeError.missingFile(url.path) }
        let configuration: BertConfiguration
        do {
            configuration = try JSONDecoder().decode(BertConfiguration.self, from: data)
        } catch {
            if let type = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["model_type"] as? String,
                !supportedModelTypes.contains(type)
            {
                throw ModelRuntimeError.unsupported("model_type \"\(type)\"; supported: \(supportedModelTypes.sorted())")
            }
            throw ModelRuntimeError.malformedFile(url.path, reason: "\(error)")
        }
        try configuration.validate()
        return configuration
    }

    func validate() throws {
        guard Self.supportedModelTypes.contains(modelType) else {
            throw ModelRuntimeError.unsupported("model_type \"\(modelType)\"; supported: \(Self.supportedModelTypes.sorted())")
        }
        guard ["gelu", "gelu_python"].contains(hiddenAct) else {
            throw ModelRuntimeError.unsupported("hidden_act \"\(hiddenAct)\"; supported: gelu (exact)")
        }
        if let kind = positionEmbeddingType, kind != "absolute" {
            throw ModelRuntimeError.unsupported("position_embedding_type \"\(kind)\"; supported: absolute")
        }
        let sizes = [
            ("hidden_size", hiddenSize), ("num_hidden_layers", numHiddenLayers), ("intermediate_size", intermediateSize),
            ("max_position_embeddings", maxPositionEmbeddings), ("type_vocab_size", typeVocabSize), ("vocab_size", vocabSize),
        ]
        if let (name, value) = sizes.first(where: { $0.1 < 1 }) {
            throw ModelRuntimeError.unsupported("\(name) \(value); it must be at least 1")
        }
        guard numAttentionHeads > 0, hiddenSize % numAttentionHeads == 0 else {
            throw ModelRuntimeError.unsupported("hidden_size \(hiddenSize) not divisible by \(numAttentionHeads) heads")
        }
    }
}
