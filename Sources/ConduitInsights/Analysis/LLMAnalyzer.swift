import ConduitChat
import ConduitCore
import ConduitEmbeddings
import Foundation

/// Analyses a conversation with a chat model served by the gateway (`chat.models_file`), asked for JSON
/// that matches the pipeline's schema (its labels as enums). The answer is validated; an invalid one is
/// sent back with what was wrong, up to `llm.max_attempts` times.
package struct LLMAnalyzer: Sendable {
    package let gateway: ChatGateway
    package let model: String

    /// `spent` is told the tokens of each call and their cost as it returns, invalid answers' included, so
    /// that they are accounted for even when the analysis fails.
    package func analyze(
        _ text: ConversationText, pipeline: PipelineDefinition, spent: (_ call: Analysis.Usage, _ costUSD: Double) -> Void
    ) async throws -> Analysis {
        var messages: [JSONValue] = [
            ["role": "system", "content": .string(Self.instructions(for: pipeline))],
            ["role": "user", "content": .string(text.transcript)],
        ]
        var usage = Analysis.Usage(promptTokens: 0, completionTokens: 0)
        var cost = 0.0
        var problem = ""
        for _ in 0..<pipeline.llm.maxAttempts {
            let completion = try await gateway.complete([
                "model": .string(model), "messages": .array(messages), "temperature": .number(pipeline.llm.temperature),
                "max_tokens": .integer(Int64(pipeline.llm.maxTokens)),
                "response_format": [
                    "type": "json_schema",
                    "json_schema": ["name": "conversation_insight", "strict": true, "schema": Self.schema(for: pipeline)],
                ],
            ])
            let call = Analysis.Usage(promptTokens: completion.usage.promptTokens, completionTokens: completion.usage.completionTokens)
            usage.promptTokens += call.promptTokens
            usage.completionTokens += call.completionTokens
            cost += completion.costUSD
            spent(call, completion.costUSD)
            do {
                var analysis = try Self.validated(completion.content, pipeline: pipeline)
                analysis.analyzer = "llm:\(model)"
                analysis.usage = usage
                analysis.costUSD = cost
                return analysis
            } catch let error as InvalidAnalysis {
                problem = error.reason
                messages.append(["role": "assistant", "content": .string(completion.content)])
                messages.append(
                    ["role": "user", "content": .string("That answer is not valid: \(problem). Answer again with only the JSON object.")])
            }
        }
        throw InvalidAnalysis(reason: "\(pipeline.llm.maxAttempts) answers of \(model) were invalid, the last because \(problem)")
    }

    package static func instructions(for pipeline: PipelineDefinition) -> String {
        func list(_ labels: [String: String]) -> String {
            labels.sorted { $0.key < $1.key }.map { "- \($0.key): \($0.value)" }.joined(separator: "\n")
        }
        return """
            \(pipeline.llm.prompt)

            Sentiment (choose exactly one):
            \(list(pipeline.sentiment))

            Topics (choose at most \(pipeline.maxTopics) that apply, the main one first, or none):
            \(list(pipeline.topics))

            Answer with only a JSON object with these keys: "sentiment" (one of the sentiment labels), "topics" (a list of topic \
            labels), "key_phrases" (at most \(pipeline.keyPhrases) short phrases taken from the conversation), "summary" (at most \
            \(max(1, pipeline.summarySentences)) sentences), "confidence" (a number from 0 to 1: how sure you are).
            """
    }

    package static func schema(for pipeline: PipelineDefinition) -> JSONValue {
        func labels(_ names: [String: String]) -> JSONValue { .array(names.keys.sorted().map(JSONValue.string)) }
        // A strict schema may not hold an empty enum: with no topic labels, the list must stay empty.
        var topicItem: [String: JSONValue] = ["type": "string"]
        if !pipeline.topics.isEmpty { topicItem["enum"] = labels(pipeline.topics) }
        return [
            "type": "object", "additionalProperties": false, "required": ["sentiment", "topics", "key_phrases", "summary", "confidence"],
            "properties": [
                "sentiment": ["type": "string", "enum": labels(pipeline.sentiment)],
                "topics": [
                    "type": "array", "items": .object(topicItem),
                    "maxItems": .integer(Int64(pipeline.topics.isEmpty ? 0 : pipeline.maxTopics)),
                ],
                "key_phrases": ["type": "array", "items": ["type": "string"], "maxItems": .integer(Int64(pipeline.keyPhrases))],
                "summary": ["type": "string"],
                "confidence": ["type": "number", "minimum": 0, "maximum": 1],
            ],
        ]
    }

    /// The model's answer checked against the schema; throws `InvalidAnalysis` saying what is wrong.
    package static func validated(_ content: String, pipeline: PipelineDefinition) throws -> Analysis {
        var json = content.trimmingCharacters(in: .whitespacesAndNewlines)
        // Some models fence their JSON in Markdown even when asked not to.
        if json.hasPrefix("```") {
            json = json.drop { $0 != "\n" }.trimmingCharacters(in: .whitespacesAndNewlines)
            if json.hasSuffix("```") { json = String(json.dropLast(3)) }
        }
        guard let answer = try? JSONDecoder().decode(Answer.self, from: Data(json.utf8)) else {
            throw InvalidAnalysis(reason: "it is not a JSON object")
        }
        guard let sentiment = answer.sentiment, pipeline.sentiment[sentiment] != nil else {
            throw InvalidAnalysis(reason: "\"sentiment\" must be one of \(pipeline.sentiment.keys.sorted().joined(separator: ", "))")
        }
        guard let topics = answer.topics, topics.allSatisfy({ pipeline.topics[$0] != nil }), topics.count <= pipeline.maxTopics else {
            throw InvalidAnalysis(
                reason:
                    "\"topics\" must be a list of at most \(pipeline.maxTopics) of \(pipeline.topics.keys.sorted().joined(separator: ", "))"
            )
        }
        guard let phrases = answer.keyPhrases, phrases.count <= pipeline.keyPhrases else {
            throw InvalidAnalysis(reason: "\"key_phrases\" must be a list of at most \(pipeline.keyPhrases) strings")
        }
        guard let summary = answer.summary else { throw InvalidAnalysis(reason: "\"summary\" must be a string") }
        guard let confidence = answer.confidence, (0...1).contains(confidence) else {
            throw InvalidAnalysis(reason: "\"confidence\" must be a number from 0 to 1")
        }
        return Analysis(
            sentiment: .init(label: sentiment, score: confidence),
            // In the model's order: the first is the main topic.
            topics: topics.enumerated().filter { !topics.prefix($0.offset).contains($0.element) }.map {
                .init(label: $0.element, score: confidence)
            },
            keyPhrases: phrases, summary: summary, confidence: confidence, analyzer: "", usage: .init(promptTokens: 0, completionTokens: 0),
            costUSD: nil)
    }
}

/// A chat model's answer, each field nil when missing or of the wrong JSON type (a boolean is no
/// number here, which JSONSerialization's NSNumber cannot tell on Linux).
private struct Answer: Decodable {
    var sentiment: String?
    var topics: [String]?
    var keyPhrases: [String]?
    var summary: String?
    var confidence: Double?

    enum CodingKeys: String, CodingKey {
        case sentiment, topics, summary, confidence
        case keyPhrases = "key_phrases"
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        sentiment = try? container.decode(String.self, forKey: .sentiment)
        topics = try? container.decode([String].self, forKey: .topics)
        keyPhrases = try? container.decode([String].self, forKey: .keyPhrases)
        summary = try? container.decode(String.self, forKey: .summary)
        confidence = try? container.decode(Double.self, forKey: .confidence)
    }
}

/// A chat model's answer that does not match the pipeline's schema.
package struct InvalidAnalysis: Error, CustomStringConvertible {
    package let reason: String
    package var description: String { reason }
}
