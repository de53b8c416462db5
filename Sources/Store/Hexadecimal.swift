extension Sequence<UInt8> {
    /// Two lower-case hexadecimal digits a byte, as digests are spelt. Written out: Foundation's
    /// `String(format:)` takes microseconds a byte, and a key's hash is spelt on every request.
    public var hexadecimal: String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(underestimatedCount * 2)
        for byte in self {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
