import ConduitCore
import Foundation

/// The chat models the gateway serves, by name and alias, checked whole: names unique, fallbacks known.
public struct ChatModelTable: Sendable, Equatable {
    /// In the order they were declared.
    public let models: [ChatModel]
    private let indexByName: [String: Int]

    public init(_ models: [ChatModel] = []) throws {
        var indexByName: [String: Int] = [:]
        var deploymentIDs: Set<String> = []
        for (index, model) in models.enumerated() {
            for name in [model.name] + model.aliases {
                guard indexByName.updateValue(index, forKey: name) == nil else {
                    throw ConfigurationError("the model name '\(name)' is declared twice")
                }
            }
            guard !model.deployments.isEmpty else { throw ConfigurationError("the model '\(model.name)' has no deployments") }
            for deployment in model.deployments {
                guard deploymentIDs.insert(deployment.id).inserted else {
                    throw ConfigurationError("the deployment name '\(deployment.id)' is declared twice")
                }
            }
        }
        for model in models {
            for fallback in model.fallbacks {
                guard let index = indexByName[fallback] else {
                    throw ConfigurationError("the model '\(model.name)' falls back to '\(fallback)', which is not declared")
                }
                guard models[index].name != model.name else { throw ConfigurationError("the model '\(model.name)' falls back to itself") }
            }
        }
        self.models = models
        self.indexByName = indexByName
    }

    /// The model called `name` or aliased so.
    public subscript(name: String) -> ChatModel? { indexByName[name].map { models[$0] } }

    public static func == (lhs: ChatModelTable, rhs: ChatModelTable) -> Bool { lhs.models == rhs.models }
}
