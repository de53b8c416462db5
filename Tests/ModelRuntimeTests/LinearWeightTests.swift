import Testing

@testable import ModelRuntime

@Suite("Dense-layer product")
struct LinearWeightTests {
    /// Deterministic values in [-1, 1): the same on every run, so a failure reproduces.
    private func values(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: state >> 11) % 2_000_000) / 1_000_000 - 1
        }
    }

    private func product(_ weight: LinearWeight, _ input: [Float], rows: Int, columns: Range<Int>? = nil) -> [Float] {
        var output = [Float](repeating: .nan, count: rows * weight.outputs)
        input.withUnsafeBufferPointer { a in
            output.withUnsafeMutableBufferPointer { c in
                weight.multiply(
                    rows: rows, input: a.baseAddress!, inputStride: weight.inputs, columns: columns ?? 0..<weight.outputs,
                    into: c.baseAddress!, outputStride: weight.outputs)
            }
        }
        return output
    }

    @Test(
        "the packed kernel matches the plain product for every row count and a ragged last panel",
        arguments: [1, 2, 5, 6, 7, 13, 48, 131])
    func packedMatchesPlain(rows: Int) {
        let outputs = 100  // not a whole number of 16-column panels
        let inputs = 37
        let weightValues = values(outputs * inputs, seed: 1)
        let input = values(rows * inputs, seed: 2)
        let packed = product(LinearWeight(weightValues, outputs: outputs, inputs: inputs, packed: true), input, rows: rows)
        let plain = product(LinearWeight(weightValues, outputs: outputs, inputs: inputs, packed: false), input, rows: rows)
        let worst = zip(packed, plain).map { abs($0 - $1) }.max() ?? .nan
        #expect(worst <= 1e-5, "largest difference \(worst)")
    }

    @Test("column ranges are whole panels, cover every output once, and write nothing outside themselves")
    func columnRanges() {
        let outputs = 100
        let inputs = 16
        let weight = LinearWeight(values(outputs * inputs, seed: 3), outputs: outputs, inputs: inputs)
        let input = values(3 * inputs, seed: 4)
        let whole = product(weight, input, rows: 3)
        let ranges = weight.columnRanges(width: 40)
        #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == outputs)
        #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
        #expect(ranges.allSatisfy { $0.lowerBound % weight.columnGranularity == 0 })
        for range in ranges {
            let part = product(weight, input, rows: 3, columns: range)
            for row in 0..<3 {
                for column in 0..<outputs {
                    let value = part[row * outputs + column]
                    if range.contains(column) {
                        #expect(value == whole[row * outputs + column])
                    } else {
                        #expect(value.isNaN, "column \(column) outside \(range) was written")
                    }
                }
            }
        }
    }

    @Test(
        "a row's result is bit-identical alone and inside a larger product",
        .enabled(if: LinearWeight.packedKernelSupported, "BLAS blocks its work by batch size"))
    func rowIndependentOfBatch() {
        let outputs = 64
        let inputs = 384
        let weight = LinearWeight(values(outputs * inputs, seed: 5), outputs: outputs, inputs: inputs)
        let batch = values(20 * inputs, seed: 6)
        let together = product(weight, batch, rows: 20)
        for row in [0, 5, 6, 19] {
            let alone = product(weight, Array(batch[row * inputs..<(row + 1) * inputs]), rows: 1)
            #expect(alone == Array(together[row * outputs..<(row + 1) * outputs]), "row \(row)")
        }
    }
}
