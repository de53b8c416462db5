import HTTPTypes
import ModelRuntime

/// A loaded embedding model as the API offers it: its names, its limits, its scheduler.
public struct ServedModel: Sendable {
    /// The id clients send as `model` and see in `/v1/models`.
    public let name: String
    /// Other ids accepted for the same model (for instance the Hugging Face repository id).
    public let aliases: [String]
    public let scheduler: EmbeddingScheduler
    /// When the model was loaded, in seconds since 1970 (OpenAI's `created`).
    public let created: Int

    public var model: EmbeddingModel { scheduler.model }

    public init(name: String, aliases: [String], scheduler: EmbeddingScheduler, created: Int) {
        self.name = name
        self.aliases = aliases.filter { $0 != name }
        self.scheduler = scheduler
        self.created = created
    }

    public func answers(to id: String) -> Bool { id == name || aliases.contains(id) }
}

/// The models this server offers. A request that names none gets the first.
public struct ModelCatalog: Sendable {
    public let models: [ServedModel]

    public init(models: [ServedModel]) { self.models = models }

    /// The model a request asked for, or a 404 in the OpenAI shape.
    public func resolve(_ id: String?) throws -> ServedModel {
        guard let id else { return models[0] }
        guard let model = models.first(where: { $0.answers(to: id) }) else {
            throw APIError(
                status: .notFound, message: "The model '\(id)' does not exist; see GET /v1/models",
                param: "model", code: "model_not_found")
        }
        return model
    }
}
