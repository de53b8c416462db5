import Foundation
import Testing

@testable import ModelRuntime

@Suite("Attention of one head")
struct AttentionTests {
    /// Deterministic values in [-scale, scale): the same on every run, so a failure reproduces.
    private func values(_ count: Int, seed: UInt64, scale: Float) -> [Float] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (Float(Int64(bitPattern: state >> 11) % 2_000_000) / 1_000_000 - 1) * scale
        }
    }

    /// softmax(q·kᵀ/√d)·v in double precision, straight from the definition.
    private func definition(_ qkv: [Float], length: Int, headSize: Int, stride: Int) -> [Double] {
        var output = [Double](repeating: 0, count: length * headSize)
        let scale = 1 / Double(headSize).squareRoot()
        for i in 0..<length {
            let scores = (0..<length).map { j in
                (0..<headSize).reduce(0.0) { $0 + Double(qkv[i * stride + $1]) * Double(qkv[j * stride + headSize + $1]) } * scale
            }
            let maximum = scores.max()!
            let weights = scores.map { Foundation.exp($0 - maximum) }
            let sum = weights.reduce(0, +)
            for d in 0..<headSize {
                output[i * headSize + d] = (0..<length).reduce(0.0) { $0 + weights[$1] * Double(qkv[$1 * stride + 2 * headSize + d]) } / sum
            }
        }
        return output
    }

    private func run(_ attention: Attention, _ qkv: [Float], length: Int, stride: Int) -> [Float] {
        let headSize = attention.headSize
        let floats = attention.scratchSize(length: length)
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: max(1, floats) * 4, alignment: 64)
            .bindMemory(to: Float.self, capacity: max(1, floats))
        defer { UnsafeMutableRawPointer(scratch).deallocate() }
        // The output is written into a wider buffer to check that nothing lands outside the head's columns.
        let outputStride = headSize + 5
        var output = [Float](repeating: .nan, count: length * outputStride)
        qkv.withUnsafeBufferPointer { qkv in
            output.withUnsafeMutableBufferPointer { output in
                let base = qkv.baseAddress!
                attention(
                    length: length, q: base, k: base + headSize, v: base + 2 * headSize, stride: stride,
                    scratch: scratch, output: output.baseAddress!, outputStride: outputStride)
            }
        }
        for row in 0..<length {
            let padding = output[(row * outputStride + headSize)..<((row + 1) * outputStride)]
            #expect(padding.allSatisfy { $0.isNaN })
        }
        return (0..<length).flatMap { output[($0 * outputStride)..<($0 * outputStride + headSize)] }
    }

    @Test(
        "every kernel matches the definition for lengths around its blocks and the 16-key panels, and heads of any width",
        arguments: Kernel.allCases.filter(\.runsHere),
        [(1, 32), (5, 16), (6, 64), (7, 32), (12, 32), (13, 64), (16, 16), (17, 32), (47, 24), (130, 64), (25, 8)])
    func matchesDefinition(kernel: Kernel, shape: (length: Int, headSize: Int)) {
        let (length, headSize) = shape
        let stride = 3 * headSize + 3  // rows of q, k, v side by side, as in the encoder's QKV buffer
        // Scores of several units, so that the softmax is neither flat nor one-hot.
        let qkv = values(length * stride, seed: UInt64(length * 100 + headSize), scale: 2)
        let expected = definition(qkv, length: length, headSize: headSize, stride: stride)
        let output = run(Attention(headSize: headSize, kernel: kernel), qkv, length: length, stride: stride)
        let worst = zip(output, expected).map { abs(Double($0) - $1) }.max() ?? .nan
        #expect(worst <= 2e-6, "\(kernel): largest difference \(worst)")
    }
}
