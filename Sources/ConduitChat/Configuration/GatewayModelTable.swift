import ConduitCore
import Foundation

/// The chat models the gateway serves, by name and alias, checked whole: names unique, fallbacks known.
public struct GatewayModelTable: Sendable, Equatable {
    /// In the order they were declared.
    public let models: [GatewayModel]
    private let indexByName: [String: Int]

    public init(_ models: [GatewayModel] = []) throws {
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
                guard model.kind.providers.contains(deployment.provider) else {
                    throw ConfigurationError(
                        "the deployment '\(deployment.id)' of the \(model.kind.rawValue) model '\(model.name)' cannot be \(deployment.provider.rawValue): a \(model.kind.rawValue) model's deployments are \(model.kind.providers.map(\.rawValue).joined(separator: " or "))"
                    )
                }
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
                guard models[index].kind == model.kind else {
                    throw ConfigurationError(
                        "the \(model.kind.rawValue) model '\(model.name)' cannot fall back to '\(fallback)', \(models[index].kind.described)"
                    )
                }
            }
        }
        self.models = models
        self.indexByName = indexByName
    }

    /// The model called `name` or aliased so.
    public subscript(name: String) -> GatewayModel? { indexByName[name].map { models[$0] } }

    /// The models of `kind`, in the order they were declared.
    public func models(_ kind: GatewayModel.Kind) -> [GatewayModel] { models.filter { $0.kind == kind } }

    public static func == (lhs: GatewayModelTable, rhs: GatewayModelTable) -> Bool { lhs.models == rhs.models }
}
