/// Tells the language of a text offline, well enough for a prefilter: by script for the languages
/// that have their own, and by the share of common function words for Latin-script languages.
/// Answers nil when it cannot tell (too few words, or no language clearly ahead).
package enum LanguageGuess {
    package static func language(of text: String) -> String? {
        var letters = 0
        var scripts: [String: Int] = [:]
        for scalar in text.unicodeScalars where scalar.properties.isAlphabetic {
            letters += 1
            if let script = script(of: scalar.value) { scripts[script, default: 0] += 1 }
        }
        guard letters > 0 else { return nil }
        // Japanese mixes kana with Han: any kana at all makes it Japanese rather than Chinese.
        if let kana = scripts["ja"], kana * 20 >= letters { return "ja" }
        if let (script, count) = scripts.max(by: { $0.value < $1.value }), count * 2 >= letters { return script }
        let words = ConversationText.words(text)
        guard words.count >= 4 else { return nil }
        var hits: [String: Int] = [:]
        for word in words {
            for (language, list) in functionWords where list.contains(word) { hits[language, default: 0] += 1 }
        }
        let ranked = hits.sorted { $0.value > $1.value }
        guard let best = ranked.first, best.value * 10 >= words.count else { return nil }
        // Neighbouring languages share some words: the winner must be clearly ahead.
        if ranked.count > 1, ranked[1].value * 10 > best.value * 8 { return nil }
        return best.key
    }

    /// The language a non-Latin script points to (Han as Chinese unless kana appear).
    private static func script(of value: UInt32) -> String? {
        switch value {
        case 0x3040...0x30FF: "ja"
        case 0x4E00...0x9FFF, 0x3400...0x4DBF: "zh"
        case 0xAC00...0xD7AF, 0x1100...0x11FF: "ko"
        case 0x0400...0x04FF: "ru"
        case 0x0600...0x06FF: "ar"
        case 0x0590...0x05FF: "he"
        case 0x0370...0x03FF: "el"
        case 0x0900...0x097F: "hi"
        case 0x0E00...0x0E7F: "th"
        default: nil
        }
    }

    private static let functionWords: [String: Set<String>] = [
        "en": ["the", "and", "is", "are", "to", "of", "it", "that", "you", "i", "my", "this", "was", "for", "with", "not", "have", "be"],
        "es": ["el", "la", "los", "las", "que", "de", "y", "es", "en", "un", "una", "por", "para", "con", "no", "mi", "lo", "pero"],
        "fr": ["le", "la", "les", "et", "est", "que", "de", "des", "un", "une", "pour", "pas", "je", "vous", "mon", "ce", "avec", "dans"],
        "de": ["der", "die", "das", "und", "ist", "nicht", "ich", "sie", "ein", "eine", "zu", "mit", "mein", "auf", "für", "den", "es"],
        "it": ["il", "lo", "gli", "che", "di", "e", "è", "un", "una", "per", "non", "mi", "con", "sono", "della", "ho", "ma"],
        "pt": ["o", "os", "as", "que", "de", "e", "é", "um", "uma", "para", "não", "com", "meu", "minha", "do", "da", "em"],
        "nl": ["de", "het", "een", "en", "is", "niet", "ik", "je", "van", "dat", "met", "voor", "mijn", "op", "zijn", "maar"],
    ]
}
