import ConduitTestSupport
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Store
import Testing

@testable import ConduitCore

@Suite("Strict JSON")
struct StrictJSONTests {
    @Test(
        "RFC 8259 JSON is accepted",
        arguments: [
            #"{}"#, #"[]"#, #" {"a": [1, -2.5e3, 0, true, false, null, "x"]} "#, #""\u00e9\ud83d\ude00\n\/""#, #"12345678901234567890"#,
            "{\"caf\u{e9}\": \"\u{1F600}\"}", #"{"a": {"a": 1}}"#,
        ])
    func accepted(text: String) throws {
        try StrictJSON.validate(Array(text.utf8))
    }

    static let refusals: [(text: String, reason: String)] = [
        (#"{"a": 1,}"#, "expected a key"), (#"[1, 2,]"#, "unexpected character"), (#"{"a": 1, "a": 2}"#, "duplicate key"),
        (#"{"a": 1, "\u0061": 2}"#, "duplicate key"), (#"{"n": 1e999}"#, "number out of range"), (#"[01]"#, "expected ','"),
        (#"[1.]"#, "digits must follow"), (#"["\uZZZZ"]"#, #"invalid \u escape"#), (#"["\ud800"]"#, "high surrogate"),
        (#"["\udc00"]"#, "lone low surrogate"), ("[\"a\u{1}\"]", "control character"), (#"{"a": 1} x"#, "after the JSON value"),
        (#"// c"#, "unexpected character"), (#"[NaN]"#, "unexpected character"), ("", "unexpected end"), (#"{"a" 1}"#, "expected ':'"),
        (#"["\x"]"#, "invalid escape"), (#"[tru]"#, "invalid literal"),
    ]

    @Test("what some parsers take and others refuse is refused", arguments: refusals)
    func refused(text: String, reason: String) {
        #expect {
            try StrictJSON.validate(Array(text.utf8))
        } throws: { error in
            "\(error)".contains(reason)
        }
        #expect {
            try StrictJSON.parse(Array(text.utf8))
        } throws: { error in
            "\(error)".contains(reason)
        }
    }

    static let documents = [
        #"{}"#, #"[]"#, #" {"a": [1, -2.5e3, 0, true, false, null, "x"]} "#, #""\u00e9\ud83d\ude00\n\/\"\\\t\b\f\r\u0001""#,
        #"[12345678901234567890, 9007199254740993, -9223372036854775808, 9223372036854775807, 9223372036854775808]"#,
        #"[1.0, 1e2, -0, -0.0, 0.1, 1e-7, 1E+20, 2.5e-324, 1.7976931348623157e308, -1.5]"#,
        "{\"caf\u{e9}\": \"\u{1F600}\", \"nested\": {\"a\": [[], {}, [{\"b\": null}]]}}",
    ]

    @Test(
        "parsing reads a document as Foundation's decoder reads JSONValue: integers exactly, whole numbers as integers",
        arguments: documents)
    func parsedAsFoundationReads(text: String) throws {
        let foundation = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(try StrictJSON.parse(Array(text.utf8)) == foundation)
    }

    @Test("a value written as JSON text reads back the same, by this parser and by Foundation's")
    func writtenReadsBack() throws {
        var generator = SeededGenerator(seed: 7)
        for _ in 0..<300 {
            let value = Self.randomValue(depth: 0, using: &generator)
            let text = Array(value.jsonText.readableBytesView)
            #expect(try StrictJSON.parse(text) == value, "\(String(decoding: text, as: UTF8.self))")
            #expect(try JSONDecoder().decode(JSONValue.self, from: Data(text)) == value)
        }
        #expect(String(buffer: JSONValue.string("a\"b\\c\n\u{1}é/").jsonText) == #""a\"b\\c\n\u0001é/""#)
    }

    private static func randomValue(depth: Int, using generator: inout SeededGenerator) -> JSONValue {
        let characters: [Character] = ["a", "Z", " ", "\"", "\\", "/", "\n", "\t", "\u{0}", "\u{1F}", "é", "\u{1F600}", "\u{2028}"]
        switch Int.random(in: 0..<(depth < 4 ? 8 : 6), using: &generator) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &generator))
        case 2: return .integer(Int64.random(in: .min ... .max, using: &generator))
        case 3:
            let double = Double(bitPattern: UInt64.random(in: 0 ... .max, using: &generator))
            guard double.isFinite, double != double.rounded() else { return .number(0.5) }
            return .number(double)
        case 4, 5:
            return .string(
                String((0..<Int.random(in: 0..<12, using: &generator)).map { _ in characters.randomElement(using: &generator)! }))
        case 6: return .array((0..<Int.random(in: 0..<4, using: &generator)).map { _ in randomValue(depth: depth + 1, using: &generator) })
        default:
            var members: [String: JSONValue] = [:]
            for index in 0..<Int.random(in: 0..<4, using: &generator) {
                members["k\(index)\(characters.randomElement(using: &generator)!)"] = randomValue(depth: depth + 1, using: &generator)
            }
            return .object(members)
        }
    }

    @Test("bytes that are not UTF-8 are refused: a stray continuation, an overlong form, a surrogate, UTF-16")
    func notUTF8() {
        let quote = UInt8(ascii: "\"")
        for bytes: [UInt8] in [
            [quote, 0x80, quote], [quote, 0xC0, 0xAF, quote], [quote, 0xED, 0xA0, 0x80, quote], [quote, 0xF5, 0x80, 0x80, 0x80, quote],
            [quote, 0xE2, 0x82, quote], Array("{\"a\": 1}".utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }),
        ] {
            #expect(throws: StrictJSON.SyntaxError.self) { try StrictJSON.validate(bytes) }
        }
    }

    @Test("nesting deeper than the limit is refused, not a stack overflow")
    func depth() throws {
        try StrictJSON.validate(
            Array((String(repeating: "[", count: StrictJSON.maximumDepth) + String(repeating: "]", count: StrictJSON.maximumDepth)).utf8))
        #expect(throws: StrictJSON.SyntaxError.self) {
            try StrictJSON.validate(Array((String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)).utf8))
        }
    }

    @Test("a body every route refuses the same way: 400 invalid_json, on /v1/jobs, /v1/embeddings, /v1/webhooks and /v1/conversations")
    func routesRefuse() async throws {
        try await TestDatabase.withTeam(.sqlite) { store, team in
            let key = try await store.keys.create(name: "k", teamID: team.id, scopes: [.embeddings, .jobs, .admin]).secret
            let app = try TestServer.authenticatedApplication(store: store)
            let bodies: [(String, [UInt8])] = [
                ("/v1/jobs", Array(#"{"kind":"embeddings","input":1e999}"#.utf8)),
                ("/v1/jobs", Array(#"{"kind":"embeddings","input":["\uZZZZ"]}"#.utf8)),
                ("/v1/jobs", Array(#"{"kind":"embeddings","input":["a"#.utf8) + [0xFF] + Array(#""]}"#.utf8)),
                ("/v1/jobs", Array(#"{"kind":"embeddings","input":["a"],"input":["b"]}"#.utf8)),
                ("/v1/jobs", Array("{\"kind\":\"embeddings\",\"input\":[\"a\u{7}\"]}".utf8)),
                ("/v1/embeddings", Array(#"{"input": "a",}"#.utf8)),
                ("/v1/embeddings", Array(#"{"input": "a", "input": "b"}"#.utf8)),
                ("/v1/webhooks", Array(#"{"url": "https://example.com/hook",}"#.utf8)),
                ("/v1/conversations", Array(#"{"messages": [{"role": "user", "content": "hi"}], "messages": []}"#.utf8)),
            ]
            try await app.test(.router) { client in
                for (uri, body) in bodies {
                    let response = try await client.execute(
                        uri: uri, method: .post, headers: [.authorization: "Bearer \(key)", .contentType: "application/json"],
                        body: ByteBuffer(bytes: body))
                    let error = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
                    let code = (error?["error"] as? [String: Any])?["code"] as? String
                    #expect(
                        response.status == .badRequest && code == "invalid_json",
                        "\(uri) \(String(decoding: body, as: UTF8.self)): \(response.status) \(code ?? "")")
                }
            }
        }
    }

    @Test("a job's input is stored canonically: the same value written two ways is one idempotent submission")
    func canonicalInput() throws {
        let first = try JSONDecoder().decode(JSONValue.self, from: Data(#"{"b": [1, 2.5, "x\/y"], "a": {"z": null, "y": true}}"#.utf8))
        let second = try JSONDecoder().decode(JSONValue.self, from: Data(#"{"a":{"y":true,"z":null},"b":[1,2.5,"x/y"]}"#.utf8))
        #expect(try first.canonicalJSON() == second.canonicalJSON())
        #expect(String(decoding: try first.canonicalJSON(), as: UTF8.self) == #"{"a":{"y":true,"z":null},"b":[1,2.5,"x/y"]}"#)
    }
}

/// SplitMix64: the same values on every run, so that a failure can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}
