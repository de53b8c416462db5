/// The labelled support conversations compiled into the server (`Examples/support-examples.jsonl`): what
/// the built-in pipeline, and a pipeline file's `examples_file: built-in`, learn from. The conversations
/// they are measured on are kept apart (`benchmarks/insights/support-heldout.jsonl`).
package enum BuiltInExamples {
    /// `examples_file`'s value that names this set.
    package static let name = "built-in"

    // A test parses it: compiled-in data that does not read is a defect of the build, not of a configuration.
    package static let support = try! LabelledConversation.parseLines(
        String(decoding: PackageResources.support_examples_jsonl, as: UTF8.self), source: "built-in examples")
}
