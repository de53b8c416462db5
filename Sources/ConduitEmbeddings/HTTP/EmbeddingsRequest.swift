import ConduitCore

/// The body of `POST /v1/embeddings`, as the OpenAI API and its SDKs send it.
package struct EmbeddingsRequest: Decodable, Sendable {
    package enum EncodingFormat: String, Decodable, Sendable {
        case float, base64
    }

    package var input: EmbeddingInput
    package var model: String?
    package var encodingFormat: EncodingFormat?
    package var dimensions: Int?
    package var user: String?

    package enum CodingKeys: String, CodingKey {
        case input, model, dimensions, user
        case encodingFormat = "encoding_format"
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        input = try container.decode(EmbeddingInput.self, forKey: .input)
        model = try container.decodeIfPresent(String.self, forKey: .model)
        dimensions = try container.decodeIfPresent(Int.self, forKey: .dimensions)
        user = try container.decodeIfPresent(String.self, forKey: .user)
        if let format = try container.decodeIfPresent(String.self, forKey: .encodingFormat) {
            guard let parsed = EncodingFormat(rawValue: format) else {
                throw EmbeddingsError.invalidEncodingFormat(format)
            }
            encodingFormat = parsed
        }
    }
}

/// `input`: a string, an array of strings, an array of token ids, or an array of arrays of token ids.
package enum EmbeddingInput: Decodable, Sendable, Equatable {
    case texts([String])
    case tokens([[Int]])

    package var count: Int {
        switch self {
        case .texts(let texts): texts.count
        case .tokens(let tokens): tokens.count
        }
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let list = try? container.decode(TextList.self) {
            self = .texts(list.texts)
        } else if let ids = try? container.decode([Int].self) {
            self = .tokens([ids])
        } else if let batches = try? container.decode([[Int]].self) {
            self = .tokens(batches)
        } else {
            throw EmbeddingsError.invalidInputType
        }
    }
}

/// A string or an array of strings, as inputs are given to every route that takes text.
package struct TextList: Decodable, Sendable, Equatable {
    package var texts: [String]

    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            texts = [text]
        } else if let list = try? container.decode([String].self) {
            texts = list
        } else {
            let name = decoder.codingPath.last?.stringValue ?? "input"
            throw EmbeddingsError.notTextList(param: name)
        }
    }
}
