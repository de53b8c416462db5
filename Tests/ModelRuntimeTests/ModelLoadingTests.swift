import ConduitTestSupport
import Foundation
import Testing

@testable import ModelRuntime

@Suite("Model loading")
struct ModelLoadingTests {
    /// A copy of the default model folder in which `edit` changes one file.
    private func modelCopy(_ edit: (URL) throws -> Void) throws -> URL {
        let source = try #require(TestModel.directory)
        let copy = FileManager.default.temporaryDirectory.appending(path: "conduit-model-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
        for name in ["config.json", "tokenizer.json", "modules.json", "sentence_bert_config.json"] {
            try FileManager.default.copyItem(at: source.appending(path: name), to: copy.appending(path: name))
        }
        try FileManager.default.createDirectory(at: copy.appending(path: "1_Pooling"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            at: source.appending(path: "1_Pooling/config.json"), to: copy.appending(path: "1_Pooling/config.json"))
        try FileManager.default.createSymbolicLink(
            at: copy.appending(path: "model.safetensors"), withDestinationURL: source.appending(path: "model.safetensors"))
        try edit(copy)
        return copy
    }

    private func rewriteJSON(_ url: URL, _ change: (inout [String: Any]) -> Void) throws {
        var json = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        change(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: url)
    }

    @Test("another architecture fails at load, naming it")
    func unsupportedArchitecture() throws {
        let folder = try modelCopy { try rewriteJSON($0.appending(path: "config.json")) { $0["model_type"] = "gpt2" } }
        #expect(throws: ModelRuntimeError.unsupported("model_type \"gpt2\"; supported: [\"bert\"]")) {
            try EmbeddingModel(directory: folder)
        }
    }

    @Test("another tokenizer model fails at load, naming it")
    func unsupportedTokenizer() throws {
        let folder = try modelCopy { folder in
            try rewriteJSON(folder.appending(path: "tokenizer.json")) { json in
                var model = json["model"] as! [String: Any]
                model["type"] = "BPE"
                json["model"] = model
            }
        }
        #expect(throws: ModelRuntimeError.unsupported("tokenizer model \"BPE\"; supported: WordPiece")) {
            try EmbeddingModel(directory: folder)
        }
    }

    @Test("token ids the model has no embedding for, and a length limit with no room for text, fail at load")
    func inconsistentTokenizer() throws {
        let beyondVocabulary = try modelCopy { folder in
            try rewriteJSON(folder.appending(path: "tokenizer.json")) { json in
                var added = json["added_tokens"] as! [[String: Any]]
                added.append(["id": 40_000, "content": "[NEW]", "special": true])
                json["added_tokens"] = added
            }
        }
        #expect(throws: ModelRuntimeError.self) { try EmbeddingModel(directory: beyondVocabulary) }

        let negative = try modelCopy { folder in
            try rewriteJSON(folder.appending(path: "tokenizer.json")) { json in
                var processor = json["post_processor"] as! [String: Any]
                var specials = processor["special_tokens"] as! [String: Any]
                specials["[CLS]"] = ["id": "[CLS]", "ids": [-1], "tokens": ["[CLS]"]]
                processor["special_tokens"] = specials
                json["post_processor"] = processor
            }
        }
        #expect(throws: ModelRuntimeError.self) { try EmbeddingModel(directory: negative) }

        let noRoom = try modelCopy { folder in
            try rewriteJSON(folder.appending(path: "sentence_bert_config.json")) { $0["max_seq_length"] = 2 }
        }
        #expect(throws: ModelRuntimeError.self) { try EmbeddingModel(directory: noRoom) }
    }

    @Test("cls and max pooling follow 1_Pooling/config.json")
    func poolingModes() throws {
        let reference = try #require(TestModel.model)
        for mode in [Pooling.cls, .max] {
            let folder = try modelCopy { folder in
                try rewriteJSON(folder.appending(path: "1_Pooling/config.json")) { json in
                    json["pooling_mode_mean_tokens"] = false
                    json[mode == .cls ? "pooling_mode_cls_token" : "pooling_mode_max_tokens"] = true
                }
            }
            let model = try EmbeddingModel(directory: folder)
            #expect(model.pooling == mode)
            let ids = model.tokenize("pooling differs").ids
            let pooled = try model.embed([ids])[0]
            let expected: [Float] = try reference.encoder.encode([ids]) { states, ranges in
                var out = [Float](repeating: 0, count: 384)
                out.withUnsafeMutableBufferPointer {
                    mode.pool(states, rows: ranges[0], width: 384, into: $0.baseAddress!)
                    EmbeddingModel.normalize($0)
                }
                return out
            }
            #expect(pooled == expected)
            if mode == .cls {
                let first: [Float] = try reference.encoder.encode([ids]) { states, _ in
                    Array(UnsafeBufferPointer(start: states, count: 384))
                }
                #expect(cosine(pooled, first) > 0.99999)
            }
        }
    }

    @Test("an empty sequence is refused rather than pooled from another sequence's rows")
    func emptySequence() throws {
        let model = try #require(TestModel.model)
        #expect(throws: ModelRuntimeError.emptySequence) { try model.embed([[101, 102], []]) }
    }

    @Test("missing weights are reported by path")
    func missingWeights() throws {
        let folder = try modelCopy { try FileManager.default.removeItem(at: $0.appending(path: "model.safetensors")) }
        #expect(throws: ModelRuntimeError.missingFile(folder.appending(path: "model.safetensors").path)) {
            try EmbeddingModel(directory: folder)
        }
    }
}

@Suite("safetensors")
struct SafeTensorsTests {
    /// Writes a safetensors file with the given tensors (name, dtype, shape, raw little-endian bytes).
    private func write(_ tensors: [(String, String, [Int], [UInt8])]) throws -> String {
        var header: [String: Any] = ["__metadata__": ["format": "pt"]]
        var data: [UInt8] = []
        for (name, dtype, shape, bytes) in tensors {
            header[name] = ["dtype": dtype, "shape": shape, "data_offsets": [data.count, data.count + bytes.count]]
            data += bytes
        }
        let json = try JSONSerialization.data(withJSONObject: header)
        var file = withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) }
        file += json
        file += data
        let path = FileManager.default.temporaryDirectory.appending(path: "t-\(UUID().uuidString).safetensors").path
        try Data(file).write(to: URL(filePath: path))
        return path
    }

    private func bytes<T>(_ values: [T]) -> [UInt8] { values.withUnsafeBytes { Array($0) } }

    @Test("F32, F16 and BF16 all read as float32")
    func dtypes() throws {
        let half: [UInt16] = [0x3C00, 0xC000, 0x0001, 0x7C00, 0x3555]  // 1, -2, smallest subnormal, +inf, ≈0.333
        let brain: [UInt16] = [0x3F80, 0xC040, 0x0000]  // 1, -3, 0
        let path = try write([
            ("f32", "F32", [2], bytes([Float(1.5), -0.25])),
            ("f16", "F16", [5], bytes(half)),
            ("bf16", "BF16", [3], bytes(brain)),
        ])
        let file = try SafeTensorsFile(path: path)
        #expect(try file.floats("f32") == [1.5, -0.25])
        let widened = try file.floats("f16")
        #expect(widened[0] == 1 && widened[1] == -2 && widened[2] == 0x1p-24 && widened[3] == .infinity)
        #expect(abs(widened[4] - 0.33325195) < 1e-7)
        #expect(try file.floats("bf16") == [1, -3, 0])
    }

    @Test("an unsupported dtype and a truncated file are errors, not crashes")
    func malformed() throws {
        let path = try write([("i8", "I8", [2], [1, 2])])
        #expect(throws: ModelRuntimeError.self) { try SafeTensorsFile(path: path).floats("i8") }
        let truncated = FileManager.default.temporaryDirectory.appending(path: "bad.safetensors").path
        try Data([200, 0, 0, 0, 0, 0, 0, 0, 123]).write(to: URL(filePath: truncated))
        #expect(throws: ModelRuntimeError.self) { try SafeTensorsFile(path: truncated) }
        let absurd = FileManager.default.temporaryDirectory.appending(path: "absurd.safetensors").path
        try Data([255, 255, 255, 255, 255, 255, 255, 255, 123]).write(to: URL(filePath: absurd))
        #expect(throws: ModelRuntimeError.self) { try SafeTensorsFile(path: absurd) }
        // A shape whose product overflows Int, and one larger than the bytes given.
        #expect(throws: ModelRuntimeError.self) {
            try SafeTensorsFile(path: try write([("big", "F32", [1 << 40, 1 << 40], [0, 0, 0, 0])]))
        }
        #expect(throws: ModelRuntimeError.self) { try SafeTensorsFile(path: try write([("neg", "F32", [-1, -4], [0, 0, 0, 0])])) }
        #expect(throws: ModelRuntimeError.self) { try SafeTensorsFile(path: try write([("wide", "F32", [8], [0, 0, 0, 0])])) }
    }
}

@Suite("Vector math")
struct VectorMathTests {
    @Test("vectorized erf agrees with the C library")
    func accuracy() {
        var worstErf: Float = 0
        for step in 0...20000 {
            let y = Float(step - 10000) / 2000  // -5 … 5
            worstErf = max(worstErf, abs(VectorMath.erf(y) - Foundation.erf(y)))
        }
        #expect(worstErf < 1e-6, "erf absolute error \(worstErf)")
    }
}
