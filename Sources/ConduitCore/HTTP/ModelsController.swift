import Hummingbird

/// A model as `GET /v1/models` lists it: OpenAI's fields, with what kind it is and its limits added.
package struct ListedModel: Encodable, Sendable, Equatable {
    package enum Kind: String, Encodable, Sendable {
        case chat, embedding
    }

    package var id: String
    var object = "model"
    package var created: Int
    package var ownedBy: String
    package var kind: Kind
    package var aliases: [String]
    /// An embedding model's vector length.
    package var dimensions: Int?
    /// An embedding model's longest input, in tokens.
    package var maxInputTokens: Int?
    /// How a local embedding model computes: fp32 or int8.
    package var precision: String?
    /// A chat model's smallest context window among its deployments, in tokens, when declared.
    package var contextWindow: Int?

    package init(
        id: String, created: Int, ownedBy: String = "conduit", kind: Kind, aliases: [String], dimensions: Int? = nil,
        maxInputTokens: Int? = nil, precision: String? = nil, contextWindow: Int? = nil
    ) {
        self.id = id
        self.created = created
        self.ownedBy = ownedBy
        self.kind = kind
        self.aliases = aliases
        self.dimensions = dimensions
        self.maxInputTokens = maxInputTokens
        self.precision = precision
        self.contextWindow = contextWindow
    }
}

/// `GET /v1/models` and `GET /v1/models/{id}`: every model the node's features serve, local and remote,
/// read at each request (a reload may change them).
package struct ModelsController: Sendable {
    package let models: @Sendable () -> [ListedModel]

    package init(models: @escaping @Sendable () -> [ListedModel]) { self.models = models }

    private struct List: Encodable {
        var object = "list"
        var data: [ListedModel]
    }

    package func addRoutes(to router: some RouterMethods<ConduitRequestContext>) {
        router.get("/v1/models") { _, _ in
            try json(List(data: models()))
        }
        router.get("/v1/models/{id}") { _, context in
            let id = try context.parameters.require("id")
            guard let model = models().first(where: { $0.id == id || $0.aliases.contains(id) }) else {
                throw APIError(
                    status: .notFound, message: "The model '\(id.bounded())' does not exist; see GET /v1/models", param: "model",
                    code: "model_not_found")
            }
            return try json(model)
        }
    }
}
