import ConduitCore
import HTTPTypes

/// What the embeddings feature refuses, in its own terms; `apiError` is how the API shows each.
package enum EmbeddingsError: APIErrorConvertible, Equatable {
    case modelNotFound(String)
    case dimensionsOutOfRange(Int, dimension: Int)
    /// `param` has no inputs at all.
    case noInputs(param: String)
    case tooManyInputs(Int, limit: Int, param: String)
    case emptyText(index: Int)
    case noTokens(index: Int)
    case emptyTokenArray(index: Int)
    case tokenIDOutsideVocabulary(index: Int, id: Int, vocabulary: Int)
    /// `tokens` says how many ("more than 256" when the tokenizer stopped counting).
    case inputTooLong(index: Int, tokens: String, limit: Int)
    case invalidEncodingFormat(String)
    case invalidInputType
    case notTextList(param: String)
    /// A batch job's texts: how many it has against how many one job may hold.
    case jobTextCount(Int, maximum: Int)
    case emptyJobText(index: Int)

    package var apiError: APIError {
        switch self {
        case .modelNotFound(let id):
            APIError(
                status: .notFound, message: "The model '\(id.bounded())' does not exist; see GET /v1/models", param: "model", code: "model_not_found")
        case .dimensionsOutOfRange(let dimensions, let dimension):
            .invalidRequest("dimensions must be between 1 and \(dimension), got \(dimensions)", param: "dimensions", code: "invalid_value")
        case .noInputs(let param):
            .invalidRequest("'\(param)' must not be empty", param: param, code: "empty_input")
        case .tooManyInputs(let count, let limit, let param):
            .invalidRequest(
                "'\(param)' has \(count) items; at most \(limit) are allowed per request", param: param, code: "too_many_inputs")
        case .emptyText(let index):
            .invalidRequest("input[\(index)] is an empty string", param: "input", code: "empty_input")
        case .noTokens(let index):
            .invalidRequest("input[\(index)] has no tokens for this model", param: "input", code: "empty_input")
        case .emptyTokenArray(let index):
            .invalidRequest("input[\(index)] is an empty token array", param: "input", code: "empty_input")
        case .tokenIDOutsideVocabulary(let index, let id, let vocabulary):
            .invalidRequest(
                "input[\(index)] has token id \(id), outside the vocabulary (0..<\(vocabulary))", param: "input", code: "invalid_token_id")
        case .inputTooLong(let index, let tokens, let limit):
            .invalidRequest(
                "input[\(index)] has \(tokens) tokens; this model takes at most \(limit) (the server is set not to truncate)",
                param: "input", code: "input_too_long")
        case .invalidEncodingFormat(let format):
            .invalidRequest("encoding_format must be 'float' or 'base64', got '\(format)'", param: "encoding_format", code: "invalid_value")
        case .invalidInputType:
            .invalidRequest(
                "'input' must be a string, an array of strings, an array of token ids or an array of arrays of token ids",
                param: "input", code: "invalid_type")
        case .notTextList(let param):
            .invalidRequest("'\(param)' must be a string or an array of strings", param: param, code: "invalid_type")
        case .jobTextCount(let count, let maximum):
            .invalidRequest("input.input must hold 1 to \(maximum) texts, got \(count)", param: "input", code: "invalid_value")
        case .emptyJobText(let index):
            .invalidRequest("input.input[\(index)] is an empty string", param: "input", code: "empty_input")
        }
    }
}
