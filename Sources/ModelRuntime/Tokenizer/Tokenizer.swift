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
    let tokensByID: [String]

    public var vocabularySize: Int { tokensByID.count }
    /// Tokens the template adds around every text (2 for BERT's [CLS] … [SEP]).
    public var specialTokenCount: Int { prefixTokens.count + suffixTokens.count }

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
        let vocabulary = rawVocabulary.mapValues { Int32($0) }
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
        (prefixTokens, suffixTokens) = try Self.template(from: json["post_processor"], vocabulary: vocabulary)

        var added: [(content: [Unicode.Scalar], id: Int32, special: Bool)] = []
        for case let token as [String: Any] in json["added_tokens"] as? [Any] ?? [] {
            guard let content = token["content"] as? String, let id = token["id"] as? Int, !content.isEmpty else { continue }
            added.append((Array(content.unicodeScalars), Int32(id), token["special"] as? Bool ?? false))
        }
        addedTokens = added.sorted { $0.content.count > $1.content.count }

        var byID = [String](repeating: "", count: (vocabulary.values.max().map(Int.init) ?? -1) + 1)
        for (token, id) in vocabulary { byID[Int(id)] = token }
        for token in added where Int(token.id) < byID.count { byID[Int(token.id)] = String(String.UnicodeScalarView(token.content)) }
        tokensByID = byID
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

    private static func template(from value: Any?, vocabulary: [String: Int32]) throws -> ([Int32], [Int32]) {
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
                if seenSequence { suffix += ids.map { Int32($0) } } else { prefix += ids.map { Int32($0) } }
            }
            return (prefix, suffix)
        case "BertProcessing":
            guard let cls = section["cls"] as? [Any], let clsID = cls.last as? Int,
                let sep = section["sep"] as? [Any], let sepID = sep.last as? Int
            else {
                throw ModelRuntimeError.unsupported("BertProcessing without cls/sep")
            }
            return ([Int32(clsID)], [Int32(sepID)])
        case let other:
            throw ModelRuntimeError.unsupported("post_processor \"\(other ?? "?")\"; supported: TemplateProcessing, BertProcessing")
        }
    }

    /// The token text for an id (`##` pieces keep their prefix), or nil outside the vocabulary.
    public func token(for id: Int32) -> String? {
        Int(id) >= 0 && Int(id) < tokensByID.count ? tokensByID[Int(id)] : nil
    }

    /// Tokenizes `text`; with `maxLength`, keeps the first word pieces so that the result,
    /// special tokens included, has at most `maxLength` tokens.
    public func encode(_ text: String, addSpecialTokens: Bool = true, maxLength: Int? = nil) -> Encoding {
        let scalars = Array(text.unicodeScalars)
        var ids: [Int32] = []
        var special: [Bool] = []
        var spans: [Range<Int>] = []  // in scalar indices of `text`
        ids.reserveCapacity(scalars.count / 3 + 2)

        var segmentStart = 0
        var index = 0
        while index < scalars.count {
            if let added = addedToken(at: index, in: scalars) {
                appendWordPieces(of: scalars, in: segmentStart..<index, ids: &ids, special: &special, spans: &spans)
                ids.append(added.id)
                special.append(added.special)
                spans.append(index..<index + added.length)
                index += added.length
                segmentStart = index
            } else {
                index += 1
            }
        }
        appendWordPieces(of: scalars, in: segmentStart..<scalars.count, ids: &ids, special: &special, spans: &spans)

        let templateCount = addSpecialTokens ? specialTokenCount : 0
        let untruncated = ids.count + templateCount
        if let maxLength, untruncated > maxLength {
            let keep = max(0, maxLength - templateCount)
            ids.removeSubrange(keep...)
            special.removeSubrange(keep...)
            spans.removeSubrange(keep...)
        }

        var offsets = utf8Offsets(of: spans, in: scalars)
        if addSpecialTokens {
            ids = prefixTokens + ids + suffixTokens
            special = Array(repeating: true, count: prefixTokens.count) + special + Array(repeating: true, count: suffixTokens.count)
            offsets = Array(repeating: nil, count: prefixTokens.count) + offsets + Array(repeating: nil, count: suffixTokens.count)
        }
        return Encoding(ids: ids, isSpecial: special, offsets: offsets, untruncatedCount: untruncated)
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

    private func appendWordPieces(
        of scalars: [Unicode.Scalar], in segment: Range<Int>,
        ids: inout [Int32], special: inout [Bool], spans: inout [Range<Int>]
    ) {
        guard !segment.isEmpty else { return }
        var normalized: [NormalizedScalar] = []
        normalized.reserveCapacity(segment.count)
        for index in segment { normalizer.normalize(scalars[index], source: index, into: &normalized) }
        let normalizedScalars = normalized.map(\.scalar)
        for word in BertPreTokenizer.words(in: normalized) {
            for piece in wordPiece.pieces(of: normalizedScalars[word]) {
                ids.append(piece.id)
                special.append(false)
                spans.append(normalized[piece.range.lowerBound].source..<normalized[piece.range.upperBound - 1].source + 1)
            }
        }
    }

    private func utf8Offsets(of spans: [Range<Int>], in scalars: [Unicode.Scalar]) -> [Range<Int>?] {
        guard !spans.isEmpty else { return [] }
        var byteOffset = [Int](repeating: 0, count: scalars.count + 1)
        for (index, scalar) in scalars.enumerated() { byteOffset[index + 1] = byteOffset[index] + UTF8.width(scalar) }
        return spans.map { byteOffset[$0.lowerBound]..<byteOffset[$0.upperBound] }
    }
}
