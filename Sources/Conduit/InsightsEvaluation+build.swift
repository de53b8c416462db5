import ConduitChat
import ConduitCore
import ConduitEmbeddings
import ConduitInsights
import CoreMetrics
import Foundation
import Logging

/// How `conduit insights evaluate` writes its report.
package enum InsightsReportFormat: Sendable {
    /// Tables, with at most this many mistakes listed.
    case text(mistakes: Int)
    case json
}

/// Measures a pipeline of `configuration` on the labelled conversations of `file` (JSON lines) as a
/// server of that configuration would analyse them (its model, its pipelines, its chat models and
/// prices), with no store and nothing stored: `conduit insights evaluate`, which shows its progress on
/// standard error.
package func evaluateInsights(
    configuration: ServerConfiguration, pipeline name: String, labelledFile file: String, format: InsightsReportFormat, logger: Logger
) async throws -> String {
    guard let data = FileManager.default.contents(atPath: file) else { throw InvalidLabelledSet("cannot read the labelled file \(file)") }
    let conversations = try LabelledConversation.parseLines(String(decoding: data, as: UTF8.self), source: file)
    guard !conversations.isEmpty else { throw InvalidLabelledSet("\(file) has no conversation") }
    guard let pipeline = configuration.insights.pipelines[name] else {
        let known = configuration.insights.pipelines.pipelines.keys.sorted().joined(separator: ", ")
        throw ConfigurationError("no pipeline '\(name)': the pipelines are \(known) (insights.pipelines_dir)")
    }
    for conversation in conversations { try conversation.check(against: pipeline, at: "\(file) \(conversation.id ?? "")") }
    let served = try await loadServedModel(configuration.modelSettings, metrics: ServerMetrics(), logger: logger)
    let outbound = OutboundHTTPClient()
    let gateway = ChatGateway(configuration: .constant(configuration.chat), outbound: outbound, metricsFactory: NOOPMetricsHandler.instance)
    let local = LocalAnalyzer(
        embedder: TextEmbedder(catalog: ModelCatalog(models: [served])), served: served, classifiers: ExampleClassifiers())
    let evaluator = InsightsEvaluator(analyzer: PipelineAnalyzer(local: local, gateway: gateway)) { configuration.usage.prices[$0] }
    let bar = ProgressBar(label: "evaluate \(name)", total: conversations.count, unit: .items("conversations"))
    let result = await withTaskGroup(of: Void.self) { group in
        // The model's compute lanes run only while its scheduler does.
        group.addTask { try? await served.scheduler.run() }
        defer { group.cancelAll() }
        return await Result { try await evaluator.evaluate(conversations, pipeline: pipeline) { bar.set(done: $0) } }
    }
    await gateway.states.shutdown()
    try? await outbound.shutdown()
    bar.finish()
    let report = try result.get()
    switch format {
    case .text(let mistakes): return report.text(mistakes: mistakes)
    case .json:
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(report), as: UTF8.self)
    }
}

extension Result where Failure == any Error {
    fileprivate init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
