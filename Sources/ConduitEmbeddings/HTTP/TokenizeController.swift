import ConduitCore
import Foundation
import HTTPTypes
import Hummingbird
import ModelRuntime
import NIOCore

/// `POST /v1/tokenize`, as in text-embeddings-inference: the tokens of each input with their
/// ids, text, whether special, and UTF-8 byte offsets into the input.
package struct TokenizeController {
    package let catalog: ModelCatalog
    package let limits: Live<APILimits>

    package struct Body: Decodable {
        package var inputs: TextList
        package var addSpecialTokens: Bool?
        package var model: String?

        package enum CodingKeys: String, CodingKey {
            case inputs, model
            case addSpecialTokens = "add_special_tokens"
        }
    }

    package struct Token: Encodable {
        package var id: Int32
        package var text: String
        package var special: Bool
        // Offsets of special tokens are null, as text-embeddings-inference writes them.
        @Nullable package var start: Int?
        @Nullable package var stop: Int?
    }

    package func addRoutes(to router: some RouterMethods<ConduitRequestContext>) {
        router.post("/v1/tokenize") { request, context in try await tokenize(request) }
    }

    package func tokenize(_ request: Request) async throws -> Response {
        let limits = self.limits.current
        let body = try await request.decodeJSON(as: Body.self, limit: limits.maxBodyBytes)
        let model = try catalog.resolve(body.model).model
        let texts = body.inputs.texts
        guard !texts.isEmpty else { throw EmbeddingsError.noInputs(param: "inputs") }
        guard texts.count <= limits.maxInputs else {
            throw EmbeddingsError.tooManyInputs(texts.count, limit: limits.maxInputs, param: "inputs")
        }
        let addSpecial = body.addSpecialTokens ?? true
        let result: [[Token]] = try texts.enumerated().map { input, text in
            let encoding = try limits.encode(text, index: input, model: model, addSpecialTokens: addSpecial)
            return encoding.ids.indices.map { index in
                let offsets = encoding.offsets[index]
                return Token(
                    id: encoding.ids[index], text: model.tokenizer.token(for: encoding.ids[index]) ?? "",
                    special: encoding.isSpecial[index], start: offsets?.lowerBound, stop: offsets?.upperBound)
            }
        }
        return try json(result)
    }
}
