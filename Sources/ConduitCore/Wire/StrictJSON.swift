/// Checks that bytes are one JSON text as RFC 8259 defines it, and no more: UTF-8, no trailing
/// commas, no comments, no duplicate key in an object, no number too large for a double, no escape
/// that is not a Unicode scalar, and at most `maximumDepth` nested arrays and objects.
///
/// Foundation's decoders accept some of these (a trailing comma, UTF-16, the last of two equal keys),
/// so a body is checked here first: every route then reads the same JSON the same way, and what one
/// client's parser would read differently from another's is refused with 400 `invalid_json`.
package struct StrictJSON {
    package static let maximumDepth = 128

    /// Why bytes are not JSON, and where.
    package struct SyntaxError: APIErrorConvertible, Equatable, CustomStringConvertible {
        package let offset: Int
        package let reason: String
        package var description: String { "\(reason) at byte \(offset)" }
        package var apiError: APIError { .invalidRequest("request body is not valid JSON: \(self)", code: "invalid_json") }
    }

    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    /// Whether the pass makes the value it reads (`parse`), or only checks it (`validate`).
    private let builds: Bool

    private init(_ bytes: UnsafeBufferPointer<UInt8>, builds: Bool) {
        self.bytes = bytes
        self.builds = builds
    }

    /// Checks the bytes, for a decoder to read them next.
    package static func validate(_ data: some Collection<UInt8>) throws(SyntaxError) {
        _ = try read(data, builds: false)
    }

    /// Checks the bytes and reads them as a `JSONValue` in the same pass: a body the gateway passes on
    /// is read once, where Foundation's decoder would read it a second time, and far more slowly.
    package static func parse(_ data: some Collection<UInt8>) throws(SyntaxError) -> JSONValue {
        try read(data, builds: true) ?? .null
    }

    private static func read(_ data: some Collection<UInt8>, builds: Bool) throws(SyntaxError) -> JSONValue? {
        // A body's bytes are contiguous already (a ByteBuffer's view, an array): read them in place.
        let check = { (buffer: UnsafeBufferPointer<UInt8>) -> Result<JSONValue?, SyntaxError> in
            var parser = StrictJSON(buffer, builds: builds)
            do throws(SyntaxError) {
                parser.skipWhitespace()
                let value = try parser.value(depth: 0)
                parser.skipWhitespace()
                guard parser.index == buffer.count else { throw parser.failure("unexpected data after the JSON value") }
                return .success(value)
            } catch {
                return .failure(error)
            }
        }
        return try (data.withContiguousStorageIfAvailable(check) ?? Array(data).withUnsafeBufferPointer(check)).get()
    }

    private func failure(_ reason: String) -> SyntaxError { SyntaxError(offset: index, reason: reason) }

    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
    }

    private mutating func expect(_ literal: StaticString) throws(SyntaxError) {
        let start = index
        for expected in UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount) {
            guard current == expected else {
                index = start
                throw failure("invalid literal")
            }
            index += 1
        }
    }

    /// The value at `index`, stepped over; nil unless the pass builds.
    private mutating func value(depth: Int) throws(SyntaxError) -> JSONValue? {
        guard let byte = current else { throw failure("unexpected end of the JSON text") }
        switch byte {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""):
            guard builds else {
                try skipString()
                return nil
            }
            return .string(try string())
        case UInt8(ascii: "t"):
            try expect("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expect("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expect("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw failure("unexpected character")
        }
    }

    private mutating func object(depth: Int) throws(SyntaxError) -> JSONValue? {
        guard try opens(closing: UInt8(ascii: "}"), depth: depth) else { return builds ? .object([:]) : nil }
        var members: [String: JSONValue] = [:]
        var keys = Set<String>()
        repeat {
            guard current == UInt8(ascii: "\"") else { throw failure("expected a key in double quotes") }
            let keyStart = index
            let key = try string()
            guard keys.insert(key).inserted else {
                index = keyStart
                throw failure("duplicate key \"\(key.prefix(64))\"")
            }
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw failure("expected ':' after a key") }
            index += 1
            skipWhitespace()
            let member = try value(depth: depth)
            if builds { members[key] = member }
        } while try continues(closing: UInt8(ascii: "}"), in: "an object")
        return builds ? .object(members) : nil
    }

    private mutating func array(depth: Int) throws(SyntaxError) -> JSONValue? {
        guard try opens(closing: UInt8(ascii: "]"), depth: depth) else { return builds ? .array([]) : nil }
        var elements: [JSONValue] = []
        repeat {
            let element = try value(depth: depth)
            if let element { elements.append(element) }
        } while try continues(closing: UInt8(ascii: "]"), in: "an array")
        return builds ? .array(elements) : nil
    }

    /// Steps over an object's or an array's opening; false when it is empty (and closed already).
    private mutating func opens(closing: UInt8, depth: Int) throws(SyntaxError) -> Bool {
        guard depth <= Self.maximumDepth else { throw failure("nested deeper than \(Self.maximumDepth) levels") }
        index += 1
        skipWhitespace()
        guard current == closing else { return true }
        index += 1
        return false
    }

    /// After a member: true past a comma (another member follows), false past the closing bracket.
    private mutating func continues(closing: UInt8, in container: String) throws(SyntaxError) -> Bool {
        skipWhitespace()
        switch current {
        case UInt8(ascii: ","):
            index += 1
            skipWhitespace()
            return true
        case closing:
            index += 1
            return false
        default:
            throw failure("expected ',' or '\(Character(Unicode.Scalar(closing)))' in \(container)")
        }
    }

    /// Checks a string value without making its text: runs of plain ASCII are stepped over at once.
    private mutating func skipString() throws(SyntaxError) {
        index += 1
        while true {
            while index < bytes.count, case let byte = bytes[index], byte >= 0x20, byte < 0x80, byte != UInt8(ascii: "\""),
                byte != UInt8(ascii: "\\")
            {
                index += 1
            }
            guard let byte = current else { throw failure("unterminated string") }
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return
            case UInt8(ascii: "\\"):
                index += 1
                _ = try escape()
            case 0..<0x20:
                throw failure("unescaped control character in a string")
            default:
                _ = try multiByteScalar()
            }
        }
    }

    /// A string's text, its escapes resolved (keys are compared by it).
    private mutating func string() throws(SyntaxError) -> String {
        index += 1
        var scalars = String.UnicodeScalarView()
        while true {
            guard let byte = current else { throw failure("unterminated string") }
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return String(scalars)
            case UInt8(ascii: "\\"):
                index += 1
                scalars.append(try escape())
            case 0..<0x20:
                throw failure("unescaped control character in a string")
            case 0..<0x80:
                scalars.append(Unicode.Scalar(byte))
                index += 1
            default:
                scalars.append(try multiByteScalar())
            }
        }
    }

    private mutating func escape() throws(SyntaxError) -> Unicode.Scalar {
        guard let byte = current else { throw failure("unterminated escape") }
        index += 1
        switch byte {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let unit = try hexQuad()
            switch unit {
            case 0xD800..<0xDC00:
                guard current == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
                    throw failure("a \\u escape of a high surrogate without its low surrogate")
                }
                index += 2
                let low = try hexQuad()
                guard (0xDC00..<0xE000).contains(low) else { throw failure("a \\u escape of a high surrogate without its low surrogate") }
                return Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))!
            case 0xDC00..<0xE000:
                throw failure("a \\u escape of a lone low surrogate")
            default:
                return Unicode.Scalar(unit)!
            }
        default:
            index -= 1
            throw failure("invalid escape")
        }
    }

    private mutating func hexQuad() throws(SyntaxError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = current else { throw failure("unterminated \\u escape") }
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw failure("invalid \\u escape")
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }

    /// One UTF-8 sequence of two to four bytes, as the Unicode standard allows them (no overlong
    /// forms, no surrogates, nothing past U+10FFFF).
    private mutating func multiByteScalar() throws(SyntaxError) -> Unicode.Scalar {
        let lead = bytes[index]
        let (count, minimum): (Int, UInt32) =
            switch lead {
            case 0xC2...0xDF: (2, 0x80)
            case 0xE0...0xEF: (3, 0x800)
            case 0xF0...0xF4: (4, 0x10000)
            default: (0, 0)
            }
        guard count > 0, index + count <= bytes.count else { throw failure("invalid UTF-8") }
        var value = UInt32(lead) & (0xFF >> (count + 1))
        for offset in 1..<count {
            let continuation = bytes[index + offset]
            guard continuation & 0xC0 == 0x80 else { throw failure("invalid UTF-8") }
            value = value << 6 | UInt32(continuation & 0x3F)
        }
        guard value >= minimum, value <= 0x10FFFF, !(0xD800..<0xE000).contains(value), let scalar = Unicode.Scalar(value) else {
            throw failure("invalid UTF-8")
        }
        index += count
        return scalar
    }

    /// A number: a whole one that fits 64 bits is an integer, however it is written (`1.0`, `1e2`, `-0`),
    /// as Foundation's decoder reads `JSONValue`.
    private mutating func number() throws(SyntaxError) -> JSONValue? {
        let start = index
        var isWhole = true
        if current == UInt8(ascii: "-") { index += 1 }
        switch current {
        case UInt8(ascii: "0"):
            index += 1
        case let digit? where (UInt8(ascii: "1")...UInt8(ascii: "9")).contains(digit):
            skipDigits()
        default:
            throw failure("invalid number")
        }
        if current == UInt8(ascii: ".") {
            isWhole = false
            index += 1
            guard isDigit(current) else { throw failure("invalid number: digits must follow '.'") }
            skipDigits()
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            isWhole = false
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard isDigit(current) else { throw failure("invalid number: digits must follow the exponent") }
            skipDigits()
        }
        let literal = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard let value = Double(literal), value.isFinite else {
            index = start
            throw failure("number out of range")
        }
        guard builds else { return nil }
        // Digits alone are read exactly (past 2^53 a double would round them); otherwise the double, whole or not.
        if isWhole, let integer = Int64(literal) { return .integer(integer) }
        if value == value.rounded(), let integer = Int64(exactly: value) { return .integer(integer) }
        return .number(value)
    }

    private mutating func skipDigits() {
        while isDigit(current) { index += 1 }
    }

    private func isDigit(_ byte: UInt8?) -> Bool { byte.map { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) } ?? false }
}
