/// A new random identifier: a version-4 UUID spelt in lower case, the form of every id Conduit makes
/// (rows, request ids, token ids). Drawn from the system's generator (`getrandom`), where Foundation's
/// `UUID()` on Linux opens and reads `/dev/urandom`, a file opened for every id of every request.
public func randomIdentifier() -> String {
    var generator = SystemRandomNumberGenerator()
    var bytes = withUnsafeBytes(of: (generator.next() as UInt64, generator.next() as UInt64)) { Array($0) }
    bytes[6] = bytes[6] & 0x0f | 0x40  // version 4
    bytes[8] = bytes[8] & 0x3f | 0x80  // the variant of RFC 9562
    let digits = bytes.hexadecimal.utf8
    var spelt: [UInt8] = []
    spelt.reserveCapacity(36)
    for (index, digit) in digits.enumerated() {
        if [8, 12, 16, 20].contains(index) { spelt.append(UInt8(ascii: "-")) }
        spelt.append(digit)
    }
    return String(decoding: spelt, as: UTF8.self)
}
