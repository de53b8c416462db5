import Foundation

/// Hugging Face `tokenizers`' `BertNormalizer`, character for character.
///
/// Each output scalar remembers the index of the input scalar it came from, so token
/// offsets can be reported in the caller's original text.
public struct BertNormalizer: Sendable, Equatable {
    public var cleanText: Bool
    public var handleChineseChars: Bool
    public var stripAccents: Bool
    public var lowercase: Bool

    public init(cleanText: Bool = true, handleChineseChars: Bool = true, stripAccents: Bool? = nil, lowercase: Bool = true) {
        self.cleanText = cleanText
        self.handleChineseChars = handleChineseChars
        // As in `tokenizers`: an unset strip_accents follows lowercase.
        self.stripAccents = stripAccents ?? lowercase
        self.lowercase = lowercase
    }

    /// Appends the normalized form of `scalar` (which is `source` in the input) to `output`.
    func normalize(_ scalar: Unicode.Scalar, source: Int, into output: inout [NormalizedScalar]) {
        if scalar.isASCII {
            normalizeASCII(scalar, source: source, into: &output)
            return
        }
        if cleanText {
            if scalar.value == 0xFFFD || Self.isControl(scalar) { return }
            if Self.isWhitespace(scalar) {
                output.append(NormalizedScalar(scalar: " ", source: source))
                return
            }
        }
        if handleChineseChars && Self.isChineseChar(scalar) {
            output.append(NormalizedScalar(scalar: " ", source: source))
            output.append(NormalizedScalar(scalar: scalar, source: source))
            output.append(NormalizedScalar(scalar: " ", source: source))
            return
        }
        var pieces: [Unicode.Scalar] = [scalar]
        if stripAccents {
            pieces = String(scalar).decomposedStringWithCanonicalMapping.unicodeScalars
                .filter { $0.properties.generalCategory != .nonspacingMark }
        }
        for piece in pieces {
            if lowercase {
                for lowered in piece.properties.lowercaseMapping.unicodeScalars {
                    output.append(NormalizedScalar(scalar: lowered, source: source))
                }
            } else {
                output.append(NormalizedScalar(scalar: piece, source: source))
            }
        }
    }

    private func normalizeASCII(_ scalar: Unicode.Scalar, source: Int, into output: inout [NormalizedScalar]) {
        let value = scalar.value
        if cleanText {
            switch value {
            case 0x09, 0x0A, 0x0D, 0x20:
                output.append(NormalizedScalar(scalar: " ", source: source))
                return
            case 0x00...0x1F, 0x7F:
                return
            default: break
            }
        }
        if lowercase, value >= 0x41, value <= 0x5A {
            output.append(NormalizedScalar(scalar: Unicode.Scalar(value + 0x20)!, source: source))
        } else {
            output.append(NormalizedScalar(scalar: scalar, source: source))
        }
    }

    /// Rust's `char::is_whitespace` (the Unicode White_Space property), with tab, newline and return included.
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isWhitespace
    }

    /// Unicode category "Other" (Cc, Cf, Cs, Co, Cn), except tab, newline and return which count as whitespace.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09, 0x0A, 0x0D: return false
        default: break
        }
        switch scalar.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned: return true
        default: return false
        }
    }

    /// The CJK Unified Ideograph blocks BERT surrounds with spaces.
    static func isChineseChar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F,
            0x2B740...0x2B81F, 0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }
}

/// One scalar of normalized text and the index of the original scalar it came from.
struct NormalizedScalar: Sendable, Equatable {
    var scalar: Unicode.Scalar
    var source: Int
}
