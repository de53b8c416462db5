import ConduitTestSupport
import Foundation
import ModelRuntime
import Testing

@Suite("BERT tokenizer")
struct TokenizerTests {
    @Test("added tokens in the raw text become their own id, untouched by lowercasing")
    func addedTokens() throws {
        let model = try #require(TestModel.model)
        let encoding = model.tokenize("Paris is the [MASK] of France")
        #expect(encoding.ids.contains(103))
        #expect(encoding.isSpecial[encoding.ids.firstIndex(of: 103)!])
        #expect(model.tokenize("paris [mask]").ids.contains(103) == false)
    }

    @Test("truncation keeps the first max-2 word pieces and ends with [SEP]")
    func truncation() throws {
        let model = try #require(TestModel.model)
        let text = Array(repeating: "tokenizer", count: 300).joined(separator: " ")  // 2 pieces per word
        let encoding = model.tokenize(text)
        #expect(encoding.count == 256)
        #expect(encoding.wasTruncated)
        #expect(model.tokenize("tokenizer").wasTruncated == false)
        #expect(encoding.ids.first == 101 && encoding.ids.last == 102)
        #expect(model.tokenizer.encode(text).count == 602)
    }

    @Test("a long text is tokenized in chunks exactly as its parts are, and a truncated one stops early")
    func longText() throws {
        let model = try #require(TestModel.model)
        let reference = try #require(TestModel.reference)
        // Far longer than one chunk, with accents, CJK, punctuation and several kinds of whitespace.
        let parts = (0..<40).flatMap { round in reference.items.map(\.text) }.prefix(2000)
        let separators = [" ", "\n", "\t", "\u{3000}", "  "]
        let text = parts.enumerated().map { $0.element + separators[$0.offset % separators.count] }.joined()
        let whole = model.tokenizer.encode(text, addSpecialTokens: false)
        let pieced = parts.flatMap { model.tokenizer.encode($0, addSpecialTokens: false).ids }
        #expect(text.unicodeScalars.count > 50_000)
        #expect(whole.ids == pieced)
        #expect(!whole.wasTruncated)

        let huge = String(repeating: text, count: 40)  // about 8 MB: the default body limit
        let start = ContinuousClock.now
        let cut = model.tokenize(huge)
        let elapsed = ContinuousClock.now - start
        #expect(cut.wasTruncated && cut.ids == model.tokenize(String(text.prefix(5000))).ids)
        #expect(elapsed < .seconds(2), "an 8 MB text took \(elapsed) to truncate")
    }

    @Test("a character that clean_text deletes joins its neighbours even where a chunk could end")
    func deletedWhitespaceAtChunkBoundary() throws {
        let model = try #require(TestModel.model)
        for padding in 4085...4100 {
            let prefix = String(repeating: "x", count: padding)
            for separator in ["\u{0C}", "\u{0B}", "\u{85}"] {
                let text = prefix + " foo" + separator + "bar"
                let joined = prefix + " foobar"
                #expect(
                    model.tokenizer.encode(text, addSpecialTokens: false).ids
                        == model.tokenizer.encode(joined, addSpecialTokens: false).ids,
                    "separator \(separator.unicodeScalars.first!.value) after \(padding) characters")
            }
        }
    }

    @Test("a word over max_input_chars_per_word is one unknown token")
    func overlongWord() throws {
        let model = try #require(TestModel.model)
        #expect(model.tokenize(String(repeating: "a", count: 101)).ids == [101, 100, 102])
        #expect(model.tokenize(String(repeating: "a", count: 100)).ids.count > 3)
    }

    @Test("offsets are UTF-8 byte ranges of the original text")
    func offsets() throws {
        let model = try #require(TestModel.model)
        let text = "Zürich, 北京!"
        let encoding = model.tokenize(text)
        let bytes = Array(text.utf8)
        let pieces = encoding.offsets.compactMap { $0 }.map { String(decoding: bytes[$0], as: UTF8.self) }
        #expect(pieces == ["Zürich", ",", "北", "京", "!"])
        #expect(encoding.offsets.first! == nil && encoding.offsets.last! == nil)
    }

    @Test("token text round-trips through the vocabulary")
    func tokenText() throws {
        let model = try #require(TestModel.model)
        let ids = model.tokenize("tokenizer").ids
        #expect(ids.map { model.tokenizer.token(for: $0) } == ["[CLS]", "token", "##izer", "[SEP]"])
        #expect(model.tokenizer.token(for: -1) == nil)
    }
}
