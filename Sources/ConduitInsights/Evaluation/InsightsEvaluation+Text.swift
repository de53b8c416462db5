import ConduitCore
import Foundation

extension InsightsEvaluation {
    /// The report as `conduit insights evaluate` prints it, with at most `mistakes` mistakes listed.
    package func text(mistakes: Int) -> String {
        var lines: [String] = []
        func print(_ line: String) { lines.append(line) }
        let report = self
        print("pipeline \(report.pipeline), analyzer \(report.analyzer): \(report.conversations) conversations")
        if let fit = report.fit, fit.examples > 0 {
            print(
                "learnt from \(fit.examples) examples: embedded in \(decimals(fit.embeddingMilliseconds, 0)) ms, "
                    + "fitted in \(decimals(fit.fittingMilliseconds, 1)) ms")
        }
        for field in report.fields {
            print(
                "\n\(field.field): accuracy \(decimals(field.accuracy, 3)) over \(field.labelled), expected calibration error "
                    + "\(decimals(field.calibration.expectedCalibrationError, 3)) (mean confidence \(decimals(field.calibration.meanConfidence, 3)))"
            )
            print(
                formattedTable(
                    ["LABEL", "PRECISION", "RECALL", "SUPPORT"],
                    field.labels.map {
                        [$0.label, $0.precision.map { decimals($0, 3) } ?? "-", $0.recall.map { decimals($0, 3) } ?? "-", "\($0.support)"]
                    }))
            print("")
            let labels = field.confusion.labels
            print(
                formattedTable(
                    ["LABELLED \\ SAID"] + labels, labels.indices.map { [labels[$0]] + field.confusion.matrix[$0].map(String.init) }))
        }
        if let confidence = report.confidence {
            print(
                "\nconfidence (both fields right): expected calibration error \(decimals(confidence.expectedCalibrationError, 3)), "
                    + "mean \(decimals(confidence.meanConfidence, 3))")
        }
        let accuracy = { (value: Double?) in value.map { ", both fields right \(decimals($0, 3))" } ?? "" }
        print("uncertain: \(report.uncertain)\(accuracy(report.uncertainAccuracy)); the others\(accuracy(report.confidentAccuracy))")
        if report.fellBack > 0 { print("analysed again by an LLM: \(report.fellBack)") }
        if let milliseconds = report.classificationMilliseconds {
            print("classification: \(decimals(milliseconds, 3)) ms a conversation beside the embedding")
        }
        for usage in report.usage {
            let cost = usage.costUSD.map { ", $\(decimals($0, 6))" } ?? ""
            print("\(usage.model): \(usage.promptTokens) prompt and \(usage.completionTokens) completion tokens\(cost)")
        }
        if let cost = report.costUSD { print("cost in all: $\(decimals(cost, 6))") }
        if !report.failures.isEmpty {
            print("\n\(report.failures.count) failed:")
            for failure in report.failures.prefix(mistakes) { print("  \(failure.id): \(failure.error)") }
        }
        if mistakes > 0, !report.mistakes.isEmpty {
            print("\nmistakes (\(report.mistakes.count), the first \(min(mistakes, report.mistakes.count))):")
            print(
                formattedTable(
                    ["ID", "FIELD", "LABELLED", "SAID", "CONFIDENCE"],
                    report.mistakes.prefix(mistakes).map { [$0.id, $0.field, $0.expected, $0.predicted, decimals($0.confidence, 3)] }))
        }
        return lines.joined(separator: "\n")
    }

    private func decimals(_ value: Double, _ places: Int) -> String { String(format: "%.\(places)f", value) }
}
