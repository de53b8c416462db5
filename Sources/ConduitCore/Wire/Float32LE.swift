import Foundation

/// Vectors as bytes, the way OpenAI's base64 embeddings and the batch jobs' output carry them:
/// float32, little-endian, one value after another.
package enum Float32LE {
    package static func bytes(_ values: [Float]) -> Data {
        #if _endian(little)
            return values.withUnsafeBytes { Data($0) }
        #else
            var data = Data(capacity: values.count * 4)
            for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
            return data
        #endif
    }

    /// The values `data` holds (a trailing partial value is ignored).
    package static func floats(_ data: Data) -> [Float] {
        data.withUnsafeBytes { raw in
            (0..<raw.count / 4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }
}
