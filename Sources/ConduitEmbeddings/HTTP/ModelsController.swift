import ConduitCore
import Foundation
import HTTPTypes
import Hummingbird
import ModelRuntime
import NIOCore

/// `GET /v1/models` and `GET /v1/models/{id}`, in the OpenAI shape with the model's limits added.
package struct ModelsController {
    package let catalog: ModelCatalog

    package struct Model: Encodable {
        package var id: String
        var object = "model"
        package var created: Int
        var ownedBy = "conduit"
        package var aliases: [String]
        package var dimensions: Int
        package var maxInputTokens: Int

        package init(_ served: ServedModel) {
            id = served.name
            created = served.created
            aliases = served.aliases
            dimensions = served.model.dimension
            maxInputTokens = served.model.maxSequenceLength
        }
    }

    package struct List: Encodable {
        var object = "list"
        package var data: [Model]
    }

    package func addRoutes(to router: some RouterMethods<ConduitRequestContext>) {
        router.get("/v1/models") { _, _ in
            try json(List(data: catalog.models.map(Model.init)))
        }
        router.get("/v1/models/{id}") { _, context in
            let id = try context.parameters.require("id")
            return try json(Model(catalog.resolve(id)))
        }
    }
}
