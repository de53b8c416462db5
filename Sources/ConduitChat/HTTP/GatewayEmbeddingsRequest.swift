import ConduitCore
import Foundation
import NIOCore

/// A client's `/v1/embeddings` body for an embedding model of the gateway: what is checked and read of it
/// to route and bill it; the rest (dimensions, encoding_format, user) passes on untouched.
struct GatewayEmbeddingsRequest: RoutedRequest {
    var fields: [String: JSONValue]
    var model: String
    /// An estimate of the input's tokens: its texts' UTF-8 bytes over 4, or the token ids given.
    var promptTokens: Int
    /// The longest input's estimate: a deployment's context window bounds each input, not their sum.
    var tokensNeeded: Int
    var maxTokens: Int? { nil }
    var completionReservation: Int { 0 }
    static var kind: GatewayModel.Kind { .embedding }
    static var operation: String { "embeddings" }

    init(_ fields: [String: JSONValue]) throws {
        self.fields = fields
        model = try Self.requiredModel(in: fields)
        let inputs: [Int]
        switch fields["input"] {
        case .string(let text)?: inputs = [Self.tokens(in: text)]
        case .array(let items)? where !items.isEmpty:
            if items.allSatisfy({ $0.stringValue != nil }) {
                inputs = items.map { Self.tokens(in: $0.stringValue ?? "") }
            } else if items.allSatisfy({ if case .integer = $0 { true } else { false } }) {
                inputs = [items.count]
            } else if items.allSatisfy({ if case .array(let ids) = $0 { !ids.isEmpty } else { false } }) {
                inputs = items.map { if case .array(let ids) = $0 { ids.count } else { 0 } }
            } else {
                throw Self.invalidInput
            }
        default: throw Self.invalidInput
        }
        promptTokens = inputs.reduce(0, +)
        tokensNeeded = inputs.max() ?? 0
    }

    /// The body for a deployment: its model's name there.
    func upstreamBody(model upstreamModel: String) -> ByteBuffer {
        var fields = self.fields
        fields["model"] = .string(upstreamModel)
        return JSONValue.object(fields).jsonText
    }

    private static func tokens(in text: String) -> Int { max(1, text.utf8.count / 4) }

    private static let invalidInput = APIError.invalidRequest(
        "input must be a string, a non-empty list of strings, a list of token ids, or a list of non-empty lists of token ids",
        param: "input", code: "invalid_value")
}
