import ConduitChat
import ConduitCore
import Foundation

extension InsightsConfiguration {
    /// `insights.*`: where the pipelines are declared.
    package static let settings: [Setting<InsightsConfiguration>] = [
        Setting(
            key: "insights.pipelines_dir", isList: false,
            allowed: "a folder of pipeline files (NAME.yaml), read at start and on every reload",
            help: "a folder of pipeline files, NAME.yaml each; a bad file refuses the reload", isReloadable: true,
            apply: { values, insights in
                guard let folder = SettingValues.nonEmpty(values[0]) else { return false }
                insights.pipelinesDirectory = URL(filePath: folder)
                return true
            },
            current: { $0.pipelinesDirectory?.relativePath },
            // The pipelines read from the folder go with it, and a change to one of them is a change.
            copy: { $1 = $0 }, differs: { $0 != $1 })
    ]
}

extension InsightsConfiguration {
    /// Refuses pipelines whose analyzer or fallback names no model the gateway serves.
    package func validate(chat: ChatConfiguration) throws {
        for pipeline in pipelines.pipelines.values.sorted(by: { $0.name < $1.name }) {
            if case .llm(let model) = pipeline.analyzer, chat.models[model]?.kind != .chat {
                throw ConfigurationError(
                    "the pipeline '\(pipeline.name)' uses \(pipeline.analyzer), but '\(model)' is not a chat model of chat.models_file")
            }
            if let model = pipeline.llmFallback, chat.models[model]?.kind != .chat {
                throw ConfigurationError(
                    "the pipeline '\(pipeline.name)' has llm_fallback: \(model), but '\(model)' is not a chat model of chat.models_file")
            }
        }
    }
}
