import Foundation

/// A BERT WordPiece tokenizer read from a Hugging Face `tokenizer.json`.
///
/// Supported pipeline: added tokens matched in the raw text, `BertNormalizer`,
/// `BertPreTokenizer`, `WordPiece`, and a `TemplateProcessing` or `BertProcessing`
/// post-processor. Anything else fails at load with an error naming it.
///
/// ```swift
/// let tokenizer = try Tokenizer(contentsOf: folder.appending(path: "tokenizer.json"))
/// let encoding = tokenizer.encode("Hello world", maxLength: 256)   // [101, 7592, 2088, 102]
/// ```
public struct Tokenizer: Sendable {
    let normalizer: BertNormalizer
    let wordPiece: WordPiece
    /// Added tokens matched verbatim in the input before normalization, longest first.
    let addedTokens: [(content: [Unicode.Scalar], id: Int32, special: Bool)]
    let prefixTokens: [Int32]
    let suffixTokens: [Int32]
    let tokensByID: [Int32: String]

    /// One more than the largest id the tokenizer can produce (vocabulary, added and template tokens).
    public let vocabularySize: Int
    /// Tokens the template adds around every text (2 for BERT's [CLS] … [SEP]).
    public var specialTokenCount: Int { prefixTokens.count + suffixTokens.count }
    /// What a word the vocabulary cannot spell becomes.
    public var unknownTokenID: Int32 { wordPiece.unknownTokenID }

    public init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw ModelRuntimeError.missingFile(url.path) }
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ModelRuntimeError.malformedFile(url.path, reason: "not a JSON object")
        }
        try self.init(json: json, path: url.path)
    }

    init(json: [String: Any], path: String) throws {
        guard let model = json["model"] as? [String: Any] else {
            throw ModelRuntimeError.malformedFile(path, reason: "no model section")
        }
        let modelType = model["type"] as? String ?? "unknown"
        guard modelType == "WordPiece" else {
            throw ModelRuntimeError.unsupported("tokenizer model \"\(modelType)\"; supported: WordPiece")
        }
        guard let rawVocabulary = model["vocab"] as? [String: Int] else {
            throw ModelRuntimeError.malformedFile(path, reason: "WordPiece without vocab")
        }
        let vocabulary = try rawVocabulary.mapValues { try Self.tokenID($0, in: path) }
        let unknownToken = model["unk_token"] as? String ?? "[UNK]"
        guard let unknownID = vocabulary[unknownToken] else {
            throw ModelRuntimeError.malformedFile(path, reason: "unknown token \(unknownToken) not in vocab")
        }
        wordPiece = WordPiece(
            vocabulary: vocabulary,
            unknownTokenID: unknownID,
            continuingSubwordPrefix: model["continuing_subword_prefix"] as? String ?? "##",
            maxInputCharsPerWord: model["max_input_chars_per_word"] as? Int ?? 100
        )
        normalizer = try Self.normalizer(from: json["normalizer"])
        let preTokenizerType = (json["pre_tokenizer"] as? [String: Any])?["type"] as? String ?? "none"
        guard preTokenizerType == "BertPreTokenizer" else {
            throw ModelRuntimeError.unsupported("pre_tokenizer \"\(preTokenizerType)\"; supported: BertPreTokenizer")
        }
        (prefixTokens, suffixTokens) = try Self.template(from: json["post_processor"], path: path)

        var added: [(content: [Unicode.Scalar], id: Int32, special: Bool)] = []
        for case let token as [String: Any] in json["added_tokens"] as? [Any] ?? [] {
            guard let content = token["content"] as? String, let id = token["id"] as? Int, !content.isEmpty else { continue }
            added.append((Array(content.unicodeScalars), try Self.tokenID(id, in: path), token["special"] as? Bool ?? false))
        }
        addedTokens = added.sorted { $0.content.count > $1.content.count }

        var byID: [Int32: String] = [:]
        for (token, id) in vocabulary { byID[id] = token }
        for token in added { byID[token.id] = String(String.UnicodeScalarView(token.content)) }
        tokensByID = byID
        let largest = (Array(byID.keys) + prefixTokens + suffixTokens).max() ?? -1
        vocabularySize = Int(largest) + 1
    }

    private static func normalizer(from value: Any?) throws -> BertNormalizer {
        guard let section = value as? [String: Any], let type = section["type"] as? String else {
            throw ModelRuntimeError.unsupported("tokenizer without normalizer; supported: BertNormalizer")
        }
        guard type == "BertNormalizer" else {
            throw ModelRuntimeError.unsupported("normalizer \"\(type)\"; supported: BertNormalizer")
        }
        return BertNormalizer(
            cleanText: section["clean_text"] as? Bool ?? true,
            handleChineseChars: section["handle_chinese_chars"] as? Bool ?? true,
            stripAccents: section["strip_accents"] as? Bool,
            lowercase: section["lowercase"] as? Bool ?? true
        )
    }

    /// An id from tokenizer.json, refused when no model could have it (negative, or beyond Int32).
    private static func tokenID(_ value: Int, in path: String) throws -> Int32 {
        guard value >= 0, let id = Int32(exactly: value) else {
            throw ModelRuntimeError.malformedFile(path, reason: "token id \(value) is not a valid id")
        }
        return id
    }

    private static func template(from value: Any?, path: String) throws -> ([Int32], [Int32]) {
        guard let section = value as? [String: Any] else { return ([], []) }
        switch section["type"] as? String {
        case "TemplateProcessing":
            let specials = section["special_tokens"] as? [String: Any] ?? [:]
            var prefix: [Int32] = []
            var suffix: [Int32] = []
            var seenSequence = false
            for case let piece as [String: Any] in section["single"] as? [Any] ?? [] {
                if piece["Sequence"] != nil {
                    seenSequence = true
                    continue
                }
                guard let special = piece["SpecialToken"] as? [String: Any], let name = special["id"] as? String,
                    let ids = (specials[name] as? [String: Any])?["ids"] as? [Int]
                else {
                    throw ModelRuntimeError.unsupported("post_processor template piece \(piece)")
                }
                let tokens = try ids.map { try tokenID($0, in: path) }
                if seenSequence { suffix += tokens } else { prefix += tokens }
            }
            return (prefix, suffix)
        case "BertProcessing":
            guard let cls = section["cls"] as? [Any], let clsID = cls.last as? Int,
                let sep = section["sep"] as? [Any], let sepID = sep.last as? Int
            else {
                throw ModelRuntimeError.unsupported("BertProcessing without cls/sep")
            }
            return ([try tokenID(clsID, in: path)], [try tokenID(sepID, in: path)])
        case let other:
            throw ModelRuntimeError.unsupported("post_processor \"\(other ?? "?")\"; supported: TemplateProcessing, BertProcessing")
        }
    }

    /// The token text for an id (`##` pieces keep their prefix), or nil outside the vocabulary.
    public func token(for id: Int32) -> String? {
        tokensByID[id]
    }

    /// Tokenizes `text`; with `maxLength`, keeps the first word pieces so that the result,
    /// special tokens included, has at most `maxLength` tokens.
    public func encode(_ text: String, addSpecialTokens: Bool = true, maxLength: Int? = nil) -> Encoding {
        let scalars = Array(text.unicodeScalars)
        let templateCount = addSpecialTokens ? specialTokenCount : 0
        // Tokens past the limit are dropped anyway: stop one past it, which is enough to know the
        // text was cut, so that a multi-megabyte text costs no more than its first few hundred words.
        let budget = maxLength.map { max(0, $0 - templateCount) + 1 } ?? .max
        var pieces = Pieces(budget: budget)
        pieces.ids.reserveCapacity(min(scalars.count / 3, budget) + 2)

        var segmentStart = 0
        var index = 0
        while index < scalars.count && !pieces.isFull {
            if let added = addedToken(at: index, in: scalars) {
                appendWordPieces(of: scalars, in: segmentStart..<index, to: &pieces)
                pieces.append(added.id, special: added.special, span: index..<index + added.length)
                index += added.length
                segmentStart = index
            } else {
                index += 1
            }
        }
        if !pieces.isFull { appendWordPieces(of: scalars, in: segmentStart..<scalars.count, to: &pieces) }

        let wasTruncated = pieces.ids.count >= budget
        if wasTruncated {
            let keep = budget - 1
            pieces.ids.removeSubrange(keep...)
            pieces.special.removeSubrange(keep...)
            pieces.spans.removeSubrange(keep...)
        }

        var ids = pieces.ids
        var special = pieces.special
        var offsets = utf8Offsets(of: pieces.spans, in: scalars)
        if addSpecialTokens {
            ids = prefixTokens + ids + suffixTokens
            special = Array(repeating: true, count: prefixTokens.count) + special + Array(repeating: true, count: suffixTokens.count)
            offsets = Array(repeating: nil, count: prefixTokens.count) + offsets + Array(repeating: nil, count: suffixTokens.count)
        }
        return Encoding(ids: ids, isSpecial: special, offsets: offsets, wasTruncated: wasTruncated)
    }

    /// The tokens of a text as they are found, up to a budget.
    private struct Pieces {
        let budget: Int
        var ids: [Int32] = []
        var special: [Bool] = []
        var spans: [Range<Int>] = []  // in scalar indices of the text

        var isFull: Bool { ids.count >= budget }

        mutating func append(_ id: Int32, special isSpecial: Bool, span: Range<Int>) {
            ids.append(id)
            special.append(isSpecial)
            spans.append(span)
        }
    }

    private func addedToken(at index: Int, in scalars: [Unicode.Scalar]) -> (id: Int32, special: Bool, length: Int)? {
        // Every added token of BERT vocabularies starts with "[", so most positions fail on the first scalar.
        for token in addedTokens where token.content.count <= scalars.count - index && token.content[0] == scalars[index] {
            if scalars[index..<index + token.content.count].elementsEqual(token.content) {
                return (token.id, token.special, token.content.count)
            }
        }
        return nil
    }

    /// Scalars normalized and split into words at a time. A chunk ends only where a word must end
    /// whatever the normalizer does: at a space, tab or line break (which every setting keeps as a
    /// separator; other whitespace, such as a form feed, is deleted by clean_text and would join two
    /// words) or before a CJK ideograph (which handle_chinese_chars sets apart).
    private static let chunkScalars = 4096

    private func isChunkBoundary(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x20, 0x09, 0x0A, 0x0D: true
        default: normalizer.handleChineseChars && BertNormalizer.isChineseChar(scalar)
        }
    }

    private func appendWordPieces(of scalars: [Unicode.Scalar], in segment: Range<Int>, to pieces: inout Pieces) {
        var chunkStart = segment.lowerBound
        var normalized: [NormalizedScalar] = []
        while chunkStart < segment.upperBound && !pieces.isFull {
            var chunkEnd = min(segment.upperBound, chunkStart + Self.chunkScalars)
            while chunkEnd < segment.upperBound && !isChunkBoundary(scalars[chunkEnd]) { chunkEnd += 1 }
            normalized.removeAll(keepingCapacity: true)
            for index in chunkStart..<chunkEnd { normalizer.normalize(scalars[index], source: index, into: &normalized) }
            let normalizedScalars = normalized.map(\.scalar)
            for word in BertPreTokenizer.words(in: normalized) {
                for piece in wordPiece.pieces(of: normalizedScalars[word]) {
                    pieces.append(
                        piece.id, special: false,
                        span: normalized[piece.range.lowerBound].source..<normalized[piece.range.upperBound - 1].source + 1)
                }
                if pieces.isFull { return }
            }
            chunkStart = chunkEnd
        }
    }

    private func utf8Offsets(of spans: [Range<Int>], in scalars: [Unicode.Scalar]) -> [Range<Int>?] {
        guard let end = spans.map(\.upperBound).max() else { return [] }
        var byteOffset = [Int](repeating: 0, count: end + 1)
        for index in 0..<end { byteOffset[index + 1] = byteOffset[index] + UTF8.width(scalars[index]) }
        return spans.map { byteOffset[$0.lowerBound]..<byteOffset[$0.upperBound] }
    }
}
