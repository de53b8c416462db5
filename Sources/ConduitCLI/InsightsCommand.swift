import ArgumentParser
import Conduit

struct InsightsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "insights", abstract: "Measure the insights pipelines.", subcommands: [Evaluate.self])

    struct Evaluate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a pipeline's analyzer over labelled conversations and print how right it is; nothing is stored.",
            discussion: """
                The configuration (--config, CONDUIT_* variables) gives the model, the pipelines (insights.pipelines_dir) and, \
                for llm: analyzers and llm_fallback, the chat models and their prices, as the server would use them. The labelled \
                file has one conversation a line: {"messages": [{"role": "user", "content": "..."}], "sentiment": "negative", \
                "topic": "billing"}; either label may be left out. The prefilter and the caches are bypassed: what is measured is \
                the analyzer. benchmarks/insights/support-heldout.jsonl is the set the built-in examples are measured on.
                """)

        @OptionGroup var settings: SettingOptions

        @Option(help: "The pipeline to measure: default, or one of insights.pipelines_dir.")
        var pipeline = "default"

        @Option(help: ArgumentHelp("Labelled conversations, JSON lines.", valueName: "file"), completion: .file())
        var labelled: String

        @Flag(help: "Print the whole report as JSON.")
        var json = false

        @Option(help: "How many mistakes to list (0 for none).")
        var mistakes = 10

        func run() async throws {
            let configuration = try await settings.load(try settings.source()).configuration
            print(
                try await evaluateInsights(
                    configuration: configuration, pipeline: pipeline, labelledFile: labelled,
                    format: json ? .json : .text(mistakes: mistakes), logger: quietLogger()))
        }
    }
}
