import Foundation
import HTTPTypes
import Hummingbird
import ModelRuntime
import NIOCore

/// `GET /v1/models` and `GET /v1/models/{id}`, in the OpenAI shape with the model's limits added.
struct ModelsController {
    let catalog: ModelCatalog

    struct Model: Encodable {
        var id: String
        var object = "model"
        var created: Int
        var ownedBy = "conduit"
        var aliases: [String]
        var dimensions: Int
        var maxInputTokens: Int

        enum CodingKeys: String, CodingKey {
            case id, object, created, aliases, dimensions
            case ownedBy = "owned_by"
            case maxInputTokens = "max_input_tokens"
        }

        init(_ served: ServedModel) {
            id = served.name
            created = served.created
            aliases = served.aliases
            dimensions = served.model.dimension
            maxInputTokens = served.model.maxSequenceLength
        }
    }

    struct List: Encodable {
        var object = "list"
        var data: [Model]
    }

    func addRoutes(to router: some RouterMethods<ConduitRequestContext>) {
        router.get("/v1/models") { _, _ in
            try json(List(data: catalog.models.map(Model.init)))
        }
        router.get("/v1/models/{id}") { _, context in
            let id = try context.parameters.require("id")
            return try json(Model(catalog.resolve(id)))
        }
    }
}

/// A JSON response of `value`.
func json(
    _ value: some Encodable, status: HTTPResponse.Status = .ok, keys: JSONEncoder.KeyEncodingStrategy = .useDefaultKeys
) throws -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.withoutEscapingSlashes]
    encoder.keyEncodingStrategy = keys
    let data = try encoder.encode(value)
    return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
}
