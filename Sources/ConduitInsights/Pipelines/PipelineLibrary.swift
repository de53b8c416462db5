import ConduitCore
import ConduitEmbeddings
import Foundation
import Yams

/// The insights pipelines a server runs, by name: the built-in `default` and one per YAML file of
/// `insights.pipelines_dir` (the file `support.yaml` declares the pipeline `support`; a `default.yaml`
/// replaces the built-in one). Loaded at start and on every reload; a file that does not read refuses
/// the whole configuration, with the file, the key and what it takes.
public struct PipelineLibrary: Sendable, Equatable {
    public private(set) var pipelines: [String: PipelineDefinition]

    public static let builtIn = PipelineLibrary(pipelines: ["default": .builtIn])

    package init(pipelines: [String: PipelineDefinition]) { self.pipelines = pipelines }

    public subscript(name: String) -> PipelineDefinition? { pipelines[name] }

    /// Reads every `.yaml` and `.yml` file of `folder`.
    public static func load(from folder: URL) throws -> PipelineLibrary {
        let files: [URL]
        do {
            files = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
                // Not hidden files: editors keep lock and swap files beside the one being edited.
                .filter { ["yaml", "yml"].contains($0.pathExtension) && !$0.lastPathComponent.hasPrefix(".") }.sorted { $0.path < $1.path }
        } catch {
            throw ConfigurationError("insights.pipelines_dir: cannot read the folder \(folder.path): \(error.localizedDescription)")
        }
        var library = builtIn
        var declared: Set<String> = []
        for file in files {
            let name = file.deletingPathExtension().lastPathComponent
            guard PipelineDefinition.isValidName(name) else {
                throw ConfigurationError(
                    "\(file.path): a pipeline's file name must be 1 to 64 lowercase letters, digits, '_' or '-' (it names the pipeline)")
            }
            guard let data = FileManager.default.contents(atPath: file.path) else { throw ConfigurationError("cannot read \(file.path)") }
            if declared.contains(name) {
                throw ConfigurationError("\(file.path): another file of the folder already declares the pipeline '\(name)'")
            }
            declared.insert(name)
            library.pipelines[name] = try parse(String(decoding: data, as: UTF8.self), name: name, file: file.path)
        }
        return library
    }

    /// One pipeline from its YAML; errors name `file` and the key.
    package static func parse(_ yaml: String, name: String, file: String) throws -> PipelineDefinition {
        let root = try YAMLReader.root(of: yaml, file: file)
        let reader = YAMLReader(file: file, subject: "a pipeline")
        guard let mapping = root?.mapping else { throw ConfigurationError("\(file) must be a mapping of pipeline keys to values") }
        var pipeline = PipelineDefinition(name: name, sentiment: [:], topics: [:])
        var inlineExamples: [String: [String: [String]]] = [:]
        var examplesFile: String?
        try reader.each(mapping, section: "") { key, node in
            switch key {
            case "version": pipeline.version = try reader.integer(node, key, 1...1_000_000)
            case "analyzer":
                guard let analyzer = PipelineDefinition.Analyzer(try reader.text(node, key)) else {
                    throw reader.problem(key, "takes local or llm:MODEL (a chat model of chat.models_file)")
                }
                pipeline.analyzer = analyzer
            case "roles": pipeline.roles = try reader.list(node, key)
            case "sentiment_roles": pipeline.sentimentRoles = try reader.list(node, key)
            case "sentiment":
                (pipeline.sentiment, inlineExamples[key]) = try reader.labels(node, key)
            case "topics":
                (pipeline.topics, inlineExamples[key]) = try reader.labels(node, key)
            case "examples_file": examplesFile = try reader.text(node, key)
            case "min_confidence": pipeline.minConfidence = try reader.number(node, key, 0...1)
            case "llm_fallback": pipeline.llmFallback = try reader.text(node, key)
            case "topic_threshold": pipeline.topicThreshold = try reader.number(node, key, -1...1)
            case "max_topics": pipeline.maxTopics = try reader.integer(node, key, 0...20)
            case "key_phrases": pipeline.keyPhrases = try reader.integer(node, key, 0...20)
            case "summary_sentences": pipeline.summarySentences = try reader.integer(node, key, 0...10)
            case "confidence_temperature": pipeline.confidenceTemperature = try reader.number(node, key, 0.001...10)
            case "prefilter":
                try reader.each(try reader.section(node, key), section: key) { key, node in
                    switch key {
                    case "prefilter.min_characters": pipeline.prefilter.minCharacters = try reader.integer(node, key, 0...10_000_000)
                    case "prefilter.max_characters": pipeline.prefilter.maxCharacters = try reader.integer(node, key, 1...10_000_000)
                    case "prefilter.languages": pipeline.prefilter.languages = try reader.list(node, key)
                    case "prefilter.max_urls": pipeline.prefilter.maxURLs = try reader.integer(node, key, 0...10_000)
                    case "prefilter.spam_phrases": pipeline.prefilter.spamPhrases = try reader.list(node, key).map { $0.lowercased() }
                    case "prefilter.max_uppercase_ratio": pipeline.prefilter.maxUppercaseRatio = try reader.number(node, key, 0...1)
                    case "prefilter.min_distinct_word_ratio": pipeline.prefilter.minDistinctWordRatio = try reader.number(node, key, 0...1)
                    default: return false
                    }
                    return true
                }
            case "cache":
                try reader.each(try reader.section(node, key), section: key) { key, node in
                    switch key {
                    case "cache.exact": pipeline.cache.exact = try reader.flag(node, key)
                    case "cache.semantic_threshold":
                        pipeline.cache.semanticThreshold = node.null != nil ? nil : try reader.number(node, key, 0...1)
                    case "cache.semantic_window": pipeline.cache.semanticWindow = try reader.integer(node, key, 1...10_000)
                    default: return false
                    }
                    return true
                }
            case "llm":
                try reader.each(try reader.section(node, key), section: key) { key, node in
                    switch key {
                    case "llm.prompt": pipeline.llm.prompt = try reader.text(node, key)
                    case "llm.max_attempts": pipeline.llm.maxAttempts = try reader.integer(node, key, 1...10)
                    case "llm.max_tokens": pipeline.llm.maxTokens = try reader.integer(node, key, 16...100_000)
                    case "llm.temperature": pipeline.llm.temperature = try reader.number(node, key, 0...2)
                    default: return false
                    }
                    return true
                }
            default: return false
            }
            return true
        }
        guard pipeline.sentiment.count >= 2 else {
            throw reader.problem("sentiment", "needs at least two labels, each with a description (positive: \"The customer is happy\")")
        }
        if let label = Set(pipeline.sentiment.keys).intersection(pipeline.topics.keys).first {
            throw reader.problem("topics", "'\(label)' is also a sentiment label: labels must differ, since insights are found by label")
        }
        guard pipeline.prefilter.minCharacters < pipeline.prefilter.maxCharacters else {
            throw reader.problem("prefilter.min_characters", "must be below prefilter.max_characters")
        }
        if let examplesFile {
            pipeline.examples = try examples(from: examplesFile, besides: file, for: pipeline, reader: reader)
        }
        // In the file's order of labels, sorted: the same file gives the same examples, so a reload fits nothing again.
        for (label, texts) in inlineExamples["sentiment", default: [:]].sorted(by: { $0.key < $1.key }) {
            pipeline.examples += texts.map { LabelledConversation(messages: [.init(role: "user", content: $0)], sentiment: label) }
        }
        for (label, texts) in inlineExamples["topics", default: [:]].sorted(by: { $0.key < $1.key }) {
            pipeline.examples += texts.map { LabelledConversation(messages: [.init(role: "user", content: $0)], topic: label) }
        }
        guard pipeline.examples.count <= PipelineDefinition.maximumExamples else {
            throw reader.problem(
                "examples_file",
                "gives \(pipeline.examples.count) examples with the labels' own; at most \(PipelineDefinition.maximumExamples) are learnt from"
            )
        }
        return pipeline
    }

    /// The labelled conversations of `examples_file`: the built-in set (its labels the pipeline lacks left
    /// out), or a file beside the pipeline's, every label of which the pipeline must have (a typo would
    /// otherwise teach nothing, silently).
    private static func examples(
        from path: String, besides pipelineFile: String, for pipeline: PipelineDefinition, reader: YAMLReader
    ) throws -> [LabelledConversation] {
        if path == BuiltInExamples.name {
            return BuiltInExamples.support.map { example in
                var example = example
                if let label = example.sentiment, pipeline.sentiment[label] == nil { example.sentiment = nil }
                if let label = example.topic, pipeline.topics[label] == nil { example.topic = nil }
                return example
            }
        }
        let url = URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: pipelineFile).deletingLastPathComponent())
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw reader.problem("examples_file", "cannot read \(url.path) (a path relative to the pipeline's file, or built-in)")
        }
        let examples: [LabelledConversation]
        do {
            examples = try LabelledConversation.parseLines(String(decoding: data, as: UTF8.self), source: url.path)
        } catch {
            throw reader.problem("examples_file", "does not read: \(error)")
        }
        guard !examples.isEmpty else { throw reader.problem("examples_file", "\(url.path) has no conversation") }
        do {
            for example in examples { try example.check(against: pipeline, at: "\(url.path) \(example.id ?? "")") }
        } catch {
            throw reader.problem("examples_file", "\(error)")
        }
        return examples
    }
}

extension YAMLReader {
    /// Label names (a metric- and URL-safe word), each with its description (`label: description`) or
    /// with a description and example texts (`label: {description: ..., examples: [...]}`).
    func labels(_ node: Node, _ key: String) throws -> (descriptions: [String: String], examples: [String: [String]]) {
        guard let mapping = node.mapping else { throw problem(key, "takes labels, each with its description (label: description)") }
        var labels: [String: String] = [:]
        var examples: [String: [String]] = [:]
        for (name, value) in mapping {
            guard let label = name.string, PipelineDefinition.isValidName(label) else {
                throw problem(key, "label '\(name.string ?? "?")' must be 1 to 64 lowercase letters, digits, '_' or '-'")
            }
            guard label != Analysis.uncertainLabel else {
                throw problem(key, "label '\(label)' marks insights below min_confidence: choose another name")
            }
            guard let details = value.mapping else {
                labels[label] = try text(value, "\(key).\(label)")
                continue
            }
            try each(details, section: "\(key).\(label)") { detail, node in
                switch detail {
                case "\(key).\(label).description": labels[label] = try text(node, detail)
                case "\(key).\(label).examples": examples[label] = try list(node, detail)
                default: return false
                }
                return true
            }
            guard labels[label] != nil else { throw problem("\(key).\(label)", "needs a description") }
        }
        return (labels, examples)
    }
}
