/// Elementwise kernels of the encoder, eight floats at a time.
///
/// `erf` is the rational approximation of Eigen: within a few ULP of the C library over the whole
/// float range, and several times faster because it vectorizes.
enum VectorMath {
    typealias Vector = SIMD8<Float>

    @inline(__always)
    static func load(_ pointer: UnsafePointer<Float>) -> Vector {
        UnsafeRawPointer(pointer).loadUnaligned(as: Vector.self)
    }

    @inline(__always)
    static func store(_ value: Vector, _ pointer: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(pointer).storeBytes(of: value, as: Vector.self)
    }

    /// `x` limited to `lower...upper`; the standard library's `clamped` is a generic per-lane loop, many times slower.
    @inline(__always)
    static func clamp(_ x: Vector, _ lower: Float, _ upper: Float) -> Vector {
        var result = x
        result.replace(with: Vector(repeating: lower), where: x .< lower)
        result.replace(with: Vector(repeating: upper), where: x .> upper)
        return result
    }

    /// The error function, as a rational polynomial on [-4, 4] (beyond which erf is ±1 in float32).
    @inline(__always)
    static func erf(_ input: Vector) -> Vector {
        let x = clamp(input, -4, 4)
        let x2 = x * x
        var p = x2 * -2.72614225801306e-10 + 2.77068142495902e-08
        p = x2 * p + -2.10102402082508e-06
        p = x2 * p + -5.69250639462346e-05
        p = x2 * p + -7.34990630326855e-04
        p = x2 * p + -2.95459980854025e-03
        p = x2 * p + -1.60960333262415e-02
        p = x * p
        var q = x2 * -1.45660718464996e-05 + -2.13374055278905e-04
        q = x2 * q + -1.68282697438203e-03
        q = x2 * q + -7.37332916720468e-03
        q = x2 * q + -1.42647390514189e-02
        return p / q
    }

    /// The scalar version for the tails of rows whose length is not a multiple of eight.
    @inline(__always) static func erf(_ x: Float) -> Float { erf(Vector(repeating: x))[0] }

    /// `row[i] += bias[i]`.
    @inline(__always)
    static func addBias(_ row: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, count: Int) {
        let vectorEnd = count & ~7
        var c = 0
        while c < vectorEnd {
            store(load(row + c) + load(bias + c), row + c)
            c += 8
        }
        while c < count {
            row[c] += bias[c]
            c += 1
        }
    }

    /// `row[c] = gelu(row[c] + bias[c])` for the columns `columns` of each of `rows` rows of `stride`
    /// floats, with the exact (erf) GELU.
    static func addBiasGELU(
        _ data: UnsafeMutablePointer<Float>, rows: Int, columns: Range<Int>, stride: Int, bias: UnsafePointer<Float>
    ) {
        let bias = bias + columns.lowerBound
        let vectorEnd = columns.count & ~7
        for r in 0..<rows {
            let row = data + r * stride + columns.lowerBound
            var c = 0
            while c < vectorEnd {
                let x = load(row + c) + load(bias + c)
                store(0.5 * x * (1 + erf(x * 0.70710678118654752)), row + c)
                c += 8
            }
            while c < columns.count {
                let x = row[c] + bias[c]
                row[c] = 0.5 * x * (1 + erf(x * 0.70710678118654752))
                c += 1
            }
        }
    }

    /// `hidden = layerNorm(hidden + projected + bias)`, row by row; the residual stream is updated in place.
    static func addBiasResidualLayerNorm(
        hidden: UnsafeMutablePointer<Float>, projected: UnsafePointer<Float>, rows: Int, columns: Int,
        bias: UnsafePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float
    ) {
        for r in 0..<rows {
            let row = hidden + r * columns
            let input = projected + r * columns
            for c in 0..<columns { row[c] += input[c] + bias[c] }
            layerNormRow(row, columns: columns, gamma: gamma, beta: beta, epsilon: epsilon)
        }
    }

    /// Normalizes one row to zero mean and unit variance, then scales by `gamma` and shifts by `beta`.
    @inline(__always)
    static func layerNormRow(
        _ row: UnsafeMutablePointer<Float>, columns: Int,
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float
    ) {
        let vectorEnd = columns & ~7
        var sum = Vector.zero
        var c = 0
        while c < vectorEnd {
            sum += load(row + c)
            c += 8
        }
        var total = sum.sum()
        while c < columns {
            total += row[c]
            c += 1
        }
        let mean = total / Float(columns)
        var squares = Vector.zero
        c = 0
        while c < vectorEnd {
            let d = load(row + c) - mean
            squares += d * d
            c += 8
        }
        var variance = squares.sum()
        while c < columns {
            let d = row[c] - mean
            variance += d * d
            c += 1
        }
        let inverse = 1 / (variance / Float(columns) + epsilon).squareRoot()
        c = 0
        while c < vectorEnd {
            store((load(row + c) - mean) * inverse * load(gamma + c) + load(beta + c), row + c)
            c += 8
        }
        while c < columns {
            row[c] = (row[c] - mean) * inverse * gamma[c] + beta[c]
            c += 1
        }
    }
}
