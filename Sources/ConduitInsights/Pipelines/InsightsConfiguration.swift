import Foundation

/// Where the insights pipelines are declared.
public struct InsightsConfiguration: Sendable, Equatable {
    /// A folder of pipeline files (`support.yaml` declares `support`); only the built-in `default` when nil.
    public var pipelinesDirectory: URL?
    /// What was read from it, with the built-in pipeline; loaded with the configuration, and again on reload.
    public var pipelines = PipelineLibrary.builtIn

    public init() {}

    /// Reads the pipelines folder; errors name the file and key.
    package mutating func loadPipelines() throws {
        pipelines = try pipelinesDirectory.map(PipelineLibrary.load(from:)) ?? .builtIn
    }
}
