import ConduitCore
import Foundation

/// A conversation with the labels a person gave it: what a pipeline learns from (`examples_file`, a
/// label's `examples:`) and what an analyzer is measured against (`conduit insights evaluate`).
/// Either label may be missing: an example under a sentiment label teaches only sentiment.
package struct LabelledConversation: Sendable, Hashable, Codable {
    package var id: String?
    package var messages: [ConversationText.Message]
    package var sentiment: String?
    package var topic: String?

    package init(id: String? = nil, messages: [ConversationText.Message], sentiment: String? = nil, topic: String? = nil) {
        self.id = id
        self.messages = messages
        self.sentiment = sentiment
        self.topic = topic
    }

    /// One line of JSON a conversation: `{"messages": [{"role", "content"}...], "sentiment": ..., "topic": ...}`;
    /// other keys (`id`, `tags`) are allowed. Blank lines are skipped, and lines may end in CRLF; an error
    /// names the line and what is wrong.
    package static func parseLines(_ text: String, source: String) throws(InvalidLabelledSet) -> [LabelledConversation] {
        var conversations: [LabelledConversation] = []
        for (index, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated()
        where !line.allSatisfy(\.isWhitespace) {
            let at = "\(source) line \(index + 1)"
            let value: JSONValue
            do { value = try StrictJSON.parse(Array(line.utf8)) } catch { throw InvalidLabelledSet("\(at): not JSON (\(error))") }
            var conversation = try LabelledConversation(value, at: at)
            conversation.id = conversation.id ?? "line \(index + 1)"
            conversations.append(conversation)
        }
        return conversations
    }

    /// One conversation of a labelled set; `at` says where it is in errors.
    package init(_ value: JSONValue, at: String) throws(InvalidLabelledSet) {
        guard let object = value.objectValue else { throw InvalidLabelledSet("\(at): not a JSON object") }
        guard let list = object["messages"]?.arrayValue, !list.isEmpty else {
            throw InvalidLabelledSet("\(at): \"messages\" must be a non-empty list of {\"role\", \"content\"}")
        }
        var messages: [ConversationText.Message] = []
        for item in list {
            guard let role = item.objectValue?["role"]?.stringValue, let content = item.objectValue?["content"]?.stringValue else {
                throw InvalidLabelledSet("\(at): each message must be {\"role\": string, \"content\": string}")
            }
            messages.append(.init(role: role, content: content))
        }
        func label(_ key: String) throws(InvalidLabelledSet) -> String? {
            switch object[key] {
            case nil, .null?: return nil
            case .string(let label)?: return label
            default: throw InvalidLabelledSet("\(at): \"\(key)\" must be a label (a string)")
            }
        }
        self.init(id: object["id"]?.stringValue, messages: messages, sentiment: try label("sentiment"), topic: try label("topic"))
    }
}

extension LabelledConversation {
    /// Refuses labels `pipeline` does not have (a typo would otherwise count as a mistake, or teach nothing)
    /// and a conversation with no label, which measures nothing.
    package func check(against pipeline: PipelineDefinition, at: String) throws(InvalidLabelledSet) {
        guard sentiment != nil || topic != nil else { throw InvalidLabelledSet("\(at): has neither a sentiment nor a topic label") }
        if let sentiment, pipeline.sentiment[sentiment] == nil {
            throw InvalidLabelledSet(
                "\(at): sentiment '\(sentiment)' is not one of the pipeline's (\(pipeline.sentiment.keys.sorted().joined(separator: ", ")))"
            )
        }
        if let topic, pipeline.topics[topic] == nil {
            throw InvalidLabelledSet(
                "\(at): topic '\(topic)' is not one of the pipeline's (\(pipeline.topics.keys.sorted().joined(separator: ", ")))")
        }
    }
}

/// A labelled set that does not read: where and why.
package struct InvalidLabelledSet: Error, CustomStringConvertible {
    package var description: String
    package init(_ description: String) { self.description = description }
}
