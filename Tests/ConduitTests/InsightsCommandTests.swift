import ConduitTestSupport
import Foundation
import Testing

extension EndToEnd {
    /// `conduit insights evaluate` as an operator runs it: the configuration's model and pipelines, a labelled
    /// file, a report on standard output and nothing stored.
    @Suite("conduit insights evaluate")
    struct InsightsCommandTests {
        @Test(
            "it prints accuracy, per-label precision and recall and the confusion matrix, or the report as JSON; a label the pipeline lacks or an unknown pipeline exits non-zero naming it"
        )
        func evaluate() throws {
            guard let executable = LiveServer.executable else { throw SetupError("conduit is built beside the test bundle") }
            let model = try #require(TestModel.directory)
            let folder = FileManager.default.temporaryDirectory.appending(path: "evaluate-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            let labelled = folder.appending(path: "labelled.jsonl")
            try """
            {"id": "late", "messages": [{"role": "user", "content": "My package is two weeks late and the tracking hasn't moved"}], "sentiment": "negative", "topic": "shipping"}
            {"id": "thanks", "messages": [{"role": "user", "content": "Thank you, the refund arrived and you were wonderful!"}], "sentiment": "positive", "topic": "billing"}
            """.write(to: labelled, atomically: true, encoding: .utf8)
            let common = ["insights", "evaluate", "--labelled", labelled.path, "--model-dir", model.path, "--data-dir", folder.path]

            let text = try EndToEnd.ChatCommandTests.run(executable, common, input: "")
            #expect(text.status == 0, "\(text.error)")
            for line in [
                "pipeline default, analyzer local: 2 conversations", "sentiment: accuracy 1.000 over 2", "topic: accuracy 1.000 over 2",
            ] {
                #expect(text.output.contains(line), "\(text.output)")
            }
            #expect(text.output.contains("LABELLED \\ SAID") && text.output.contains("PRECISION"))
            #expect(text.error.contains("2/2 conversations"), "progress on standard error")

            let json = try EndToEnd.ChatCommandTests.run(executable, common + ["--json"], input: "")
            let report = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any]
            #expect((report?["fields"] as? [[String: Any]])?.count == 2 && report?["conversations"] as? Int == 2, "\(json.output)")
            #expect(!FileManager.default.fileExists(atPath: folder.appending(path: "conduit.sqlite").path), "no store is opened")

            try #"{"messages": [{"role": "user", "content": "x"}], "topic": "weather"}"#.write(
                to: labelled, atomically: true, encoding: .utf8)
            let refused = try EndToEnd.ChatCommandTests.run(executable, common, input: "")
            #expect(refused.status != 0 && refused.error.contains("topic 'weather' is not one of the pipeline's"), "\(refused.error)")
            let unknown = try EndToEnd.ChatCommandTests.run(executable, common + ["--pipeline", "nope"], input: "")
            #expect(unknown.status != 0 && unknown.error.contains("no pipeline 'nope'"), "\(unknown.error)")
        }
    }
}
