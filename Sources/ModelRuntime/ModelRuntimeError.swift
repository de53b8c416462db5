/// Everything that can go wrong while loading or running a model.
///
/// Load-time errors name the file and the unsupported feature, so an operator knows at
/// start which model cannot be served and why.
public enum ModelRuntimeError: Error, Equatable, CustomStringConvertible {
    /// A file the model folder must have is absent.
    case missingFile(String)
    /// A file exists but cannot be parsed.
    case malformedFile(String, reason: String)
    /// The model uses something this runtime does not implement (an architecture, a tokenizer type, a dtype…).
    case unsupported(String)
    /// A tensor the architecture needs is absent from the weights, or has the wrong shape.
    case missingTensor(String)
    case tensorShapeMismatch(name: String, expected: [Int], actual: [Int])
    /// A token id outside the vocabulary was given as input.
    case tokenIDOutOfRange(id: Int, vocabularySize: Int)
    /// A sequence with no tokens was given as input.
    case emptySequence
    /// A sequence longer than the model's position embeddings was given as input.
    case sequenceTooLong(length: Int, limit: Int)

    public var description: String {
        switch self {
        case .missingFile(let path): "model file missing: \(path)"
        case .malformedFile(let path, let reason): "malformed model file \(path): \(reason)"
        case .unsupported(let what): "unsupported model: \(what)"
        case .missingTensor(let name): "tensor missing from weights: \(name)"
        case .tensorShapeMismatch(let name, let expected, let actual):
            "tensor \(name) has shape \(actual), expected \(expected)"
        case .tokenIDOutOfRange(let id, let size): "token id \(id) is outside the vocabulary (size \(size))"
        case .emptySequence: "a sequence has no tokens"
        case .sequenceTooLong(let length, let limit): "sequence of \(length) tokens exceeds the model's limit of \(limit)"
        }
    }
}
