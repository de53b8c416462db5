/// The prefilter's verdict on a conversation: analysed, or skipped for a reason.
package enum PrefilterVerdict: Sendable, Equatable {
    case pass
    /// `too_short`, `too_long`, `language`, `too_many_urls` or `spam`; the detail says what was found.
    case skip(reason: String, detail: String)
}

extension PipelineDefinition.Prefilter {
    /// Cheap heuristics, in the order of their cost, first refusal wins.
    package func verdict(on text: String) -> PrefilterVerdict {
        let characters = text.count
        if characters < minCharacters { return .skip(reason: "too_short", detail: "\(characters) characters, fewer than \(minCharacters)") }
        if characters > maxCharacters { return .skip(reason: "too_long", detail: "\(characters) characters, more than \(maxCharacters)") }
        let urls = ConversationText.urlCount(text)
        if urls > maxURLs { return .skip(reason: "too_many_urls", detail: "\(urls) links, more than \(maxURLs)") }
        let lowered = text.lowercased()
        if let phrase = spamPhrases.first(where: { lowered.contains($0) }) { return .skip(reason: "spam", detail: "contains '\(phrase)'") }
        let letters = text.filter(\.isLetter)
        let capitals = letters.count(where: \.isUppercase)
        if letters.count >= 40, Double(capitals) > maxUppercaseRatio * Double(letters.count) {
            return .skip(reason: "spam", detail: "\(capitals) of \(letters.count) letters are capitals")
        }
        let words = ConversationText.words(text)
        if words.count >= 20, Double(Set(words).count) < minDistinctWordRatio * Double(words.count) {
            return .skip(reason: "spam", detail: "\(Set(words).count) distinct words in \(words.count)")
        }
        if !languages.isEmpty, let language = LanguageGuess.language(of: text), !languages.contains(language) {
            return .skip(reason: "language", detail: "written in '\(language)', not in \(languages.joined(separator: ", "))")
        }
        return .pass
    }
}
