import Crypto
import Foundation
import Store

/// The text of a conversation as a pipeline sees it: the messages of the roles it analyses, and the
/// pieces the analyzers work on (sentences, candidate key phrases).
package struct ConversationText: Sendable, Equatable {
    package struct Message: Sendable, Hashable, Codable {
        package var role: String
        package var content: String
    }

    package let messages: [Message]

    /// `messages` of `roles` (all when empty).
    package init(_ messages: [Message], roles: [String]) {
        self.messages = roles.isEmpty ? messages : messages.filter { roles.contains($0.role) }
    }

    /// The contents, one message a line.
    package var plain: String { messages.map(\.content).joined(separator: "\n") }

    /// As a transcript, `role: content` a line: what an LLM reads.
    package var transcript: String { messages.map { "\($0.role): \($0.content)" }.joined(separator: "\n") }

    /// Lowercased, whitespace runs made one space: texts differing only in these have one exact-cache entry.
    package var normalized: String {
        messages.map { "\($0.role): \($0.content.lowercased().split(whereSeparator: \.isWhitespace).joined(separator: " "))" }
            .joined(separator: "\n")
    }

    /// The exact cache's key: SHA-256 of the pipeline, its version and the normalised text, in hex.
    package func contentHash(pipeline: String, version: Int) -> String {
        let digest = SHA256.hash(data: Data("\(pipeline)\n\(version)\n\(normalized)".utf8))
        return digest.hexadecimal
    }

    /// Sentences of every message, in order, at most `limit` (a summary picks among them).
    package func sentences(limit: Int) -> [String] { spokenSentences(limit: limit).map(\.sentence) }

    /// A sentence with who said it, in which message (its index in `messages`).
    package typealias SpokenSentence = (role: String, message: Int, sentence: String)

    /// Sentences of every message with who said them, in order, at most `limit`.
    package func spokenSentences(limit: Int) -> [SpokenSentence] {
        var spoken: [SpokenSentence] = []
        for (index, message) in messages.enumerated() {
            var sentences: [String] = []
            var current = ""
            for character in message.content {
                current.append(character)
                if character == "." || character == "!" || character == "?" || character.isNewline {
                    Self.flush(&current, into: &sentences)
                }
            }
            Self.flush(&current, into: &sentences)
            spoken += sentences.map { (message.role, index, $0) }
            if spoken.count >= limit { break }
        }
        return Array(spoken.prefix(limit))
    }

    /// Longest sentence kept whole: a text without punctuation is cut into pieces this long, so that
    /// a summary of a few sentences stays short.
    package static let maxSentenceCharacters = 400

    private static func flush(_ current: inout String, into sentences: inout [String]) {
        var rest = Substring(current.trimmingCharacters(in: .whitespacesAndNewlines))
        current = ""
        while !rest.isEmpty {
            var piece = rest.prefix(maxSentenceCharacters)
            // Cut at a space where there is one.
            if piece.count < rest.count, let space = piece.lastIndex(where: \.isWhitespace), space > piece.startIndex {
                piece = piece[..<space]
            }
            rest = rest[piece.endIndex...].drop(while: \.isWhitespace)
            // "3." or "..." alone is no sentence.
            if piece.contains(where: \.isLetter) { sentences.append(String(piece)) }
        }
    }

    /// Words, lowercased: runs of letters, digits, apostrophes and inner hyphens.
    package static func words(_ text: String) -> [String] {
        text.lowercased().split { !($0.isLetter || $0.isNumber || $0 == "'" || $0 == "-") }
            .map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "'-")) }.filter { !$0.isEmpty }
    }

    /// Candidate key phrases: runs of up to three words between stop words and punctuation, each once,
    /// in order of first appearance, at most `limit`.
    package func phraseCandidates(limit: Int) -> [String] {
        var candidates: [String] = []
        var seen: Set<String> = []
        for sentence in sentences(limit: 512) {
            // Punctuation inside a sentence (commas, colons) also ends a phrase.
            for clause in sentence.split(whereSeparator: { ",;:()\"".contains($0) }) {
                var run: [String] = []
                func emit() {
                    defer { run = [] }
                    guard !run.isEmpty, run.contains(where: { $0.count > 2 && !$0.allSatisfy(\.isNumber) }) else { return }
                    let phrase = run.suffix(3).joined(separator: " ")
                    if seen.insert(phrase).inserted { candidates.append(phrase) }
                }
                for word in Self.words(String(clause)) {
                    // A "word" longer than this is a code, a link or noise, no key phrase.
                    if StopWords.english.contains(word) || word.count > 30 { emit() } else { run.append(word) }
                }
                emit()
                if candidates.count >= limit { return Array(candidates.prefix(limit)) }
            }
        }
        return candidates
    }

    /// Links in the text (http, https and www. addresses).
    package static func urlCount(_ text: String) -> Int {
        text.split(whereSeparator: \.isWhitespace).count { word in
            let lower = word.lowercased()
            return lower.hasPrefix("http://") || lower.hasPrefix("https://") || lower.hasPrefix("www.")
        }
    }
}

/// Words that carry no topic of their own: they end candidate key phrases.
package enum StopWords {
    package static let english: Set<String> = [
        "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be",
        "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did", "do", "does", "doing",
        "don't", "down", "during", "each", "even", "ever", "few", "for", "from", "further", "get", "got", "had", "has", "have",
        "having", "he", "her", "here", "hers", "herself", "hi", "hello", "him", "himself", "his", "how", "i", "i'm", "i've", "if", "in",
        "into", "is", "it", "it's", "its", "itself", "just", "let", "me", "more", "most", "my", "myself", "no", "nor", "not", "now",
        "of", "off", "ok", "okay", "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "please",
        "same", "she", "should", "so", "some", "still", "such", "than", "thank", "thanks", "that", "the", "their", "theirs", "them",
        "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "us", "very",
        "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would", "yes", "yet",
        "you", "your", "yours", "yourself", "yourselves", "can't", "won't", "isn't", "wasn't", "didn't", "doesn't", "already",
        "really", "one", "two", "need", "want", "like", "know", "see", "make", "made", "way", "much", "many", "well", "able",
        "going", "today", "yesterday", "day", "days", "time", "sure", "help", "back", "anything", "something", "thing",
    ]
}
