import CKernels
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

    private func product(
        _ weight: LinearWeight, _ input: [Float], rows: Int, columns: Range<Int>? = nil, kernel: Kernel = .best
    ) -> [Float] {
        var output = [Float](repeating: .nan, count: rows * weight.outputs)
        input.withUnsafeBufferPointer { a in
            output.withUnsafeMutableBufferPointer { c in
                weight.multiply(
                    rows: rows, input: a.baseAddress!, inputStride: weight.inputs, columns: columns ?? 0..<weight.outputs,
                    into: c.baseAddress!, outputStride: weight.outputs, kernel: kernel)
            }
        }
        return output
    }

    /// The kernels this CPU runs: each is checked on its own.
    static let kernels = Kernel.allCases.filter(\.runsHere)

    @Test(
        "every kernel matches the product's definition for row counts around its tiles and a ragged last panel",
        arguments: kernels, [1, 2, 4, 5, 6, 7, 11, 12, 13, 25, 48, 131])
    func matchesDefinition(kernel: Kernel, rows: Int) {
        let outputs = 100  // not a whole number of 16-column panels
        let inputs = 37
        let weightValues = values(outputs * inputs, seed: 1)
        let input = values(rows * inputs, seed: 2)
        let computed = product(LinearWeight(weightValues, outputs: outputs, inputs: inputs), input, rows: rows, kernel: kernel)
        var worst: Double = 0
        for row in 0..<rows {
            for column in 0..<outputs {
                let exact = (0..<inputs).reduce(0.0) { $0 + Double(input[row * inputs + $1]) * Double(weightValues[column * inputs + $1]) }
                worst = max(worst, abs(Double(computed[row * outputs + column]) - exact))
            }
        }
        #expect(worst <= 1e-5, "\(kernel): largest difference \(worst)")
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
        #expect(ranges.allSatisfy { $0.lowerBound % LinearWeight.columnGranularity == 0 })
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
        "at int8, every kernel is within the quantisation's bound of the definition, for row counts around its tiles, a ragged last panel, several groups of inputs and inputs not a multiple of four",
        arguments: kernels, [1, 3, 4, 5, 9, 131])
    func int8WithinQuantisationBound(kernel: Kernel, rows: Int) {
        let outputs = 100
        let inputs = 150  // two whole groups of 64 and a ragged one of 22
        let group = Int(CONDUIT_INT8_GROUP)
        var weightValues = values(outputs * inputs, seed: 7)
        for column in 0..<outputs { weightValues[column * inputs + 3] *= 40 }  // an outlier in the first group only
        let input = values(rows * inputs, seed: 8).map { $0 * 3 }  // a range other than the weights'
        let computed = product(
            LinearWeight(weightValues, outputs: outputs, inputs: inputs, precision: .int8), input, rows: rows, kernel: kernel)
        for row in 0..<rows {
            let x = input[row * inputs..<(row + 1) * inputs].map(Double.init)
            for column in 0..<outputs {
                let w = weightValues[column * inputs..<(column + 1) * inputs].map(Double.init)
                var exact = 0.0
                var bound = 1e-5
                // Each group of a row is quantised over its own range with 0 in it (255 steps), each output's
                // weights in that group over ±63 steps: every value is off by at most half its group's step.
                for start in stride(from: 0, to: inputs, by: group) {
                    let part = start..<min(inputs, start + group)
                    let activationStep = (max(x[part].max()!, 0) - min(x[part].min()!, 0)) / 255
                    let weightStep = w[part].map(abs).max()! / 63
                    for i in part {
                        exact += x[i] * w[i]
                        bound += abs(x[i]) * weightStep / 2 + (abs(w[i]) + weightStep / 2) * activationStep / 2
                    }
                }
                let difference = abs(Double(computed[row * outputs + column]) - exact)
                #expect(difference <= bound, "\(kernel) row \(row) column \(column): off by \(difference), bound \(bound)")
            }
        }
    }

    @Test("at int8 every kernel gives the same bits, a ragged last group included: the sums are exact integers, scaled back the same way")
    func int8SameOnEveryKernel() {
        let outputs = 100
        let inputs = 203
        let weight = LinearWeight(values(outputs * inputs, seed: 9), outputs: outputs, inputs: inputs, precision: .int8)
        let input = values(13 * inputs, seed: 10)
        let generic = product(weight, input, rows: 13, kernel: .generic)
        for kernel in Self.kernels {
            #expect(product(weight, input, rows: 13, kernel: kernel) == generic, "\(kernel)")
        }
    }

    @Test(
        "at int8, a row holding NaN or infinity gives outputs that are not numbers, as at fp32, and leaves the other rows as they were; a row of zeros gives zeros; weights too small for a scale count as zeros",
        arguments: kernels)
    func int8OddValues(kernel: Kernel) {
        let outputs = 32
        let inputs = 8
        var weightValues = values(outputs * inputs, seed: 14)
        for input in 0..<inputs { weightValues[input] = 1e-40 }  // output 0: subnormal weights
        let weight = LinearWeight(weightValues, outputs: outputs, inputs: inputs, precision: .int8)
        var input = values(4 * inputs, seed: 15)
        input[inputs + 3] = .nan
        input[2 * inputs + 5] = .infinity
        for index in (3 * inputs)..<(4 * inputs) { input[index] = 0 }
        let odd = product(weight, input, rows: 4, kernel: kernel)
        let clean = product(weight, Array(input[0..<inputs]), rows: 1, kernel: kernel)
        #expect(Array(odd[0..<outputs]) == clean, "the first row is untouched by the others")
        let poisoned = odd[outputs..<(3 * outputs)].allSatisfy(\.isNaN)
        let zeros = odd[(3 * outputs)...].allSatisfy { $0 == 0 }
        #expect(poisoned, "NaN and infinity give NaN")
        #expect(zeros, "zeros give zeros")
        #expect(clean[0] == 0, "a weight too small for a scale counts as zero")
    }

    @Test("at int8, a product shared out by columns, its rows quantised once, is bit-identical to the whole", arguments: kernels)
    func int8QuantisedOnceForColumns(kernel: Kernel) throws {
        let outputs = 100
        let inputs = 37
        let weight = LinearWeight(values(outputs * inputs, seed: 11), outputs: outputs, inputs: inputs, precision: .int8)
        let input = values(7 * inputs, seed: 12)
        let whole = product(weight, input, rows: 7, kernel: kernel)
        let quantized = try #require(
            input.withUnsafeBufferPointer { weight.quantize(rows: 7, input: $0.baseAddress!, inputStride: inputs) })
        var parts = [Float](repeating: .nan, count: 7 * outputs)
        parts.withUnsafeMutableBufferPointer { c in
            for columns in weight.columnRanges(width: 32) {
                weight.multiply(quantized, columns: columns, into: c.baseAddress!, outputStride: outputs, kernel: kernel)
            }
        }
        #expect(parts == whole)
        #expect(LinearWeight(values(16, seed: 13), outputs: 4, inputs: 4).quantize(rows: 1, input: [1, 2, 3, 4], inputStride: 4) == nil)
    }

    @Test(
        "with every kernel and precision, a row's result is bit-identical alone and inside a larger product",
        arguments: kernels, Precision.allCases)
    func rowIndependentOfBatch(kernel: Kernel, precision: Precision) {
        let outputs = 64
        let inputs = 384
        let weight = LinearWeight(values(outputs * inputs, seed: 5), outputs: outputs, inputs: inputs, precision: precision)
        let batch = values(30 * inputs, seed: 6)
        let together = product(weight, batch, rows: 30, kernel: kernel)
        for row in [0, 5, 6, 12, 19, 29] {
            let alone = product(weight, Array(batch[row * inputs..<(row + 1) * inputs]), rows: 1, kernel: kernel)
            #expect(alone == Array(together[row * outputs..<(row + 1) * outputs]), "\(kernel) \(precision), row \(row)")
        }
    }
}
