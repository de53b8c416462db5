/// Hugging Face `tokenizers`' `BertPreTokenizer`: split on whitespace, and make every
/// punctuation character a word of its own.
enum BertPreTokenizer {
    /// The words of `text`, each a range of indices into `text`.
    static func words(in text: [NormalizedScalar]) -> [Range<Int>] {
        var words: [Range<Int>] = []
        var start: Int?
        for (index, item) in text.enumerated() {
            let scalar = item.scalar
            if isWhitespace(scalar) {
                if let begin = start {
                    words.append(begin..<index)
                    start = nil
                }
            } else if isPunctuation(scalar) {
                if let begin = start {
                    words.append(begin..<index)
                    start = nil
                }
                words.append(index..<index + 1)
            } else if start == nil {
                start = index
            }
        }
        if let begin = start { words.append(begin..<text.count) }
        return words
    }

    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.isASCII {
            return scalar == " " || (scalar.value >= 0x09 && scalar.value <= 0x0D)
        }
        return scalar.properties.isWhitespace
    }

    /// ASCII punctuation (which includes symbols such as `$`, `+`, `^`) or a Unicode punctuation category.
    static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.isASCII {
            switch scalar.value {
            case 0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E: return true
            default: return false
            }
        }
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
            .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }
}
