import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A `.safetensors` file, memory-mapped read-only.
///
/// The format is an 8-byte little-endian header length, a JSON header naming each tensor's
/// dtype, shape and byte range, then the raw data. Mapping the file lets `floats(_:)` copy one
/// tensor at a time without reading the whole file first; F16 and BF16 are widened to F32 as they
/// are copied. The mapping is released when the file object goes.
public final class SafeTensorsFile: Sendable {
    public struct TensorInfo: Sendable, Equatable {
        public let dtype: String
        public let shape: [Int]
        /// Byte range relative to the start of the data section.
        public let dataRange: Range<Int>
        public var elementCount: Int { shape.reduce(1, *) }
    }

    public let path: String
    public let tensors: [String: TensorInfo]
    // The mapping is read-only and unmapped only in deinit, so sharing its address is safe.
    private nonisolated(unsafe) let base: UnsafeRawPointer
    private let mappedLength: Int
    private let dataOffset: Int

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw ModelRuntimeError.missingFile(path) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ModelRuntimeError.malformedFile(path, reason: "cannot stat") }
        let length = Int(info.st_size)
        guard length >= 8 else { throw ModelRuntimeError.malformedFile(path, reason: "shorter than its header") }
        guard let mapping = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0), mapping != MAP_FAILED else {
            throw ModelRuntimeError.malformedFile(path, reason: "mmap failed (errno \(errno))")
        }
        let base = UnsafeRawPointer(mapping)
        do {
            let declared = UInt64(littleEndian: base.loadUnaligned(as: UInt64.self))
            guard let headerLength = Int(exactly: declared), headerLength > 0, headerLength <= length - 8 else {
                throw ModelRuntimeError.malformedFile(path, reason: "header length \(declared) exceeds the file")
            }
            let header = Data(bytes: base + 8, count: headerLength)
            self.tensors = try Self.parseHeader(header, dataLength: length - 8 - headerLength, path: path)
            self.dataOffset = 8 + headerLength
        } catch {
            munmap(mapping, length)
            throw error
        }
        self.base = base
        self.mappedLength = length
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: base), mappedLength)
    }

    private static func parseHeader(_ header: Data, dataLength: Int, path: String) throws -> [String: TensorInfo] {
        guard let object = try? JSONSerialization.jsonObject(with: header) as? [String: Any] else {
            throw ModelRuntimeError.malformedFile(path, reason: "header is not a JSON object")
        }
        var tensors: [String: TensorInfo] = [:]
        for (name, value) in object where name != "__metadata__" {
            guard let entry = value as? [String: Any],
                let dtype = entry["dtype"] as? String,
                let shape = entry["shape"] as? [Int],
                let offsets = entry["data_offsets"] as? [Int], offsets.count == 2,
                offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= dataLength
            else {
                throw ModelRuntimeError.malformedFile(path, reason: "bad header entry for tensor \(name)")
            }
            // Every element takes at least a byte: a shape whose product passes the byte range (or Int) is a lie,
            // and checking it here keeps `elementCount` from overflowing later.
            var elements = 1
            for dimension in shape {
                let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
                guard dimension >= 0, !overflow, product <= offsets[1] - offsets[0] || product == 0 else {
                    throw ModelRuntimeError.malformedFile(path, reason: "tensor \(name) has shape \(shape), larger than its data")
                }
                elements = product
            }
            tensors[name] = TensorInfo(dtype: dtype, shape: shape, dataRange: offsets[0]..<offsets[1])
        }
        return tensors
    }

    /// The tensor's values as float32, widened from F16 or BF16 when stored that way.
    public func floats(_ name: String) throws -> [Float] {
        guard let info = tensors[name] else { throw ModelRuntimeError.missingTensor(name) }
        let count = info.elementCount
        let start = base + dataOffset + info.dataRange.lowerBound
        let bytesPerElement: Int
        switch info.dtype {
        case "F32": bytesPerElement = 4
        case "F16", "BF16": bytesPerElement = 2
        default: throw ModelRuntimeError.unsupported("tensor \(name) has dtype \(info.dtype); supported: F32, F16, BF16")
        }
        guard info.dataRange.count == count * bytesPerElement else {
            throw ModelRuntimeError.malformedFile(path, reason: "tensor \(name) byte size does not match its shape")
        }
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            switch info.dtype {
            case "F32":
                for i in 0..<count {
                    buffer[i] = Float(bitPattern: UInt32(littleEndian: start.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                }
            case "F16":
                for i in 0..<count {
                    buffer[i] = Self.widenHalf(UInt16(littleEndian: start.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                }
            default:
                for i in 0..<count {
                    let bits = UInt16(littleEndian: start.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                    buffer[i] = Float(bitPattern: UInt32(bits) << 16)
                }
            }
            initialized = count
        }
    }

    /// IEEE 754 binary16 to binary32, exact for every value including subnormals, infinities and NaN.
    static func widenHalf(_ bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = Int((bits >> 10) & 0x1F)
        let mantissa = UInt32(bits & 0x3FF)
        switch exponent {
        case 0:
            // Subnormal half: value = mantissa × 2^-24, representable exactly as a normal float.
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        case 0x1F:
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        default:
            return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
        }
    }
}
