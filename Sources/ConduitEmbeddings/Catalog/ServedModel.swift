import ConduitCore
import Foundation
import HTTPTypes
import ModelRuntime
import ServiceLifecycle
import Synchronization

/// A loaded embedding model as the API offers it: its names, its limits, its scheduler.
public struct ServedModel: Sendable {
    /// The id clients send as `model` and see in `/v1/models`.
    public let name: String
    /// Other ids accepted for the same model (for instance the Hugging Face repository id).
    public let aliases: [String]
    public let scheduler: EmbeddingScheduler
    /// When the model was loaded, in seconds since 1970 (OpenAI's `created`).
    public let created: Int
    /// Where it was loaded from, when it came from a folder: a reload that only renames it keeps it loaded.
    public let folder: URL?

    /// Its tokenizer and shape; the scheduler runs its batches.
    public let model: EmbeddingModel

    public init(name: String, aliases: [String], model: EmbeddingModel, scheduler: EmbeddingScheduler, created: Int, folder: URL? = nil) {
        self.model = model
        self.name = name
        self.aliases = aliases.filter { $0 != name }
        self.scheduler = scheduler
        self.created = created
        self.folder = folder
    }

    public func answers(to id: String) -> Bool { id == name || aliases.contains(id) }
}

/// The models this server offers; a reload can replace them. A request that names none gets the first.
///
/// As a service it runs the schedulers of its models, those a reload brings included. A model that is
/// replaced keeps serving the requests that chose it; once none holds it and none has come for
/// ``retirementGrace``, it finishes what it admitted and is released: a request is never refused
/// because the model changed under it.
public final class ModelCatalog: Service, Sendable {
    private enum Change: Sendable {
        case serve(EmbeddingScheduler)
        case retire(EmbeddingScheduler)
    }

    /// How long a replaced model must go unchosen, once no request holds it, before it is released.
    public let retirementGrace: Duration
    private let current: Mutex<[ServedModel]>
    private let changes: AsyncStream<Change>
    private let announce: AsyncStream<Change>.Continuation

    public init(models: [ServedModel], retirementGrace: Duration = .seconds(10)) {
        precondition(!models.isEmpty, "a catalog serves at least one model")
        self.retirementGrace = retirementGrace
        current = Mutex(models)
        (changes, announce) = AsyncStream.makeStream()
        for model in models { announce.yield(.serve(model.scheduler)) }
    }

    public var models: [ServedModel] { current.withLock { $0 } }

    /// The model a request asked for (the first when it names none); `EmbeddingsError.modelNotFound` otherwise.
    public func resolve(_ id: String?) throws -> ServedModel {
        let models = self.models
        guard let id else { return models[0] }
        guard let model = models.first(where: { $0.answers(to: id) }) else {
            throw EmbeddingsError.modelNotFound(id)
        }
        return model
    }

    /// Serves `models` from now on; the schedulers of the models they replace retire.
    public func replace(with models: [ServedModel]) {
        precondition(!models.isEmpty, "a catalog serves at least one model")
        let replaced = current.withLock { current in
            defer { current = models }
            return current
        }
        for model in models where !replaced.contains(where: { $0.scheduler === model.scheduler }) {
            announce.yield(.serve(model.scheduler))
        }
        for model in replaced where !models.contains(where: { $0.scheduler === model.scheduler }) {
            announce.yield(.retire(model.scheduler))
        }
    }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            // On graceful shutdown no model is added any more; the schedulers running drain, as each
            // is told by the same shutdown.
            for await change in changes.cancelOnGracefulShutdown() {
                switch change {
                case .serve(let scheduler): group.addTask { try? await scheduler.run() }
                case .retire(let scheduler): group.addTask { await scheduler.retire(after: self.retirementGrace) }
                }
            }
        }
    }
}
