import Foundation

/// Multinomial logistic regression on unit vectors (an embedding model's): a weight vector and a bias
/// per label, fitted to labelled examples, whose probabilities are then calibrated by a temperature
/// chosen on examples each fit did not see (cross-validation), so that a stated 0.8 is right about
/// eight times in ten.
package struct LabelClassifier: Sendable, Equatable {
    package let labels: [String]
    private let dimensions: Int
    /// `labels.count` rows of `dimensions` weights.
    private let weights: [Float]
    private let biases: [Float]
    /// Divides the logits before the softmax: above 1 where the fitted model is overconfident.
    package let temperature: Float

    /// Strength of the L2 penalty on the weights, against the mean loss of an example. A first
    /// cross-validation on the built-in examples scored within three points from about 1e-4 to 1e-2
    /// (`benchmarks/insights/README.md`).
    package static let penalty: Float = 1e-3
    package static let iterations = 300
    package static let folds = 5

    /// Fits on `vectors` (unit vectors of one length) with `targets` (indices into `labels`), each label
    /// weighing the same in all (a label with fewer examples is not thereby rarer), then calibrates.
    package init(labels: [String], vectors: [[Float]], targets: [Int]) {
        precondition(vectors.count == targets.count && !vectors.isEmpty, "a classifier needs examples")
        let examples = Examples(vectors)
        let all = Array(vectors.indices)
        let fitted = Fit(examples: examples, subset: all, targets: targets, labels: labels.count)
        self.labels = labels
        dimensions = examples.dimensions
        // Back from the examples' coefficients to weights on the vector: w = Σ aᵢ xᵢ.
        var weights = [Float](repeating: 0, count: labels.count * dimensions)
        for (position, example) in all.enumerated() {
            for label in labels.indices {
                let coefficient = fitted.coefficients[label * all.count + position]
                guard coefficient != 0 else { continue }
                let row = label * dimensions
                for index in 0..<dimensions { weights[row + index] += coefficient * examples.vectors[example * dimensions + index] }
            }
        }
        self.weights = weights
        biases = fitted.biases
        temperature = Self.calibratedTemperature(examples: examples, targets: targets, labels: labels.count)
    }

    /// The probability of each label, in `labels`' order.
    package func probabilities(_ vector: [Float]) -> [Float] {
        precondition(vector.count == dimensions, "a vector of another length than the examples'")
        let logits = (0..<labels.count).map { label in
            var sum = biases[label]
            let row = label * dimensions
            for index in 0..<dimensions { sum += weights[row + index] * vector[index] }
            return sum
        }
        return softmax(logits.map { $0 / temperature })
    }

    /// The temperature that minimises the cross-entropy of examples scored by a fit without them
    /// (`folds` folds), searched on a logarithmic grid from 1/16 to 8; 1 with too few examples to hold any out.
    private static func calibratedTemperature(examples: Examples, targets: [Int], labels: Int) -> Float {
        guard examples.count >= folds * 2 else { return 1 }
        var outOfFold: [(logits: [Float], target: Int)] = []
        for fold in 0..<folds {
            let kept = (0..<examples.count).filter { $0 % folds != fold }
            let fit = Fit(examples: examples, subset: kept, targets: kept.map { targets[$0] }, labels: labels)
            for example in 0..<examples.count where example % folds == fold {
                outOfFold.append((fit.logits(of: example, subset: kept, examples: examples), targets[example]))
            }
        }
        func crossEntropy(_ temperature: Float) -> Float {
            outOfFold.reduce(0) { $0 - logf(max(softmax($1.logits.map { $0 / temperature })[$1.target], 1e-12)) }
        }
        let candidates = (-16...12).map { exp2f(Float($0) / 4) }
        return candidates.min { crossEntropy($0) < crossEntropy($1) }!
    }
}

/// The examples' vectors, flat, with their dot products (the Gram matrix): every fit, the folds' too,
/// works on those, in as many dimensions as there are examples (fewer than the vectors' when examples
/// are a few hundred).
private struct Examples {
    let count: Int
    let dimensions: Int
    let vectors: [Float]
    let gram: [Float]

    init(_ rows: [[Float]]) {
        let count = rows.count
        let dimensions = rows[0].count
        precondition(rows.allSatisfy { $0.count == dimensions }, "vectors of different lengths")
        let vectors = rows.flatMap { $0 }
        var gram = [Float](repeating: 0, count: count * count)
        vectors.withUnsafeBufferPointer { x in
            for i in 0..<count {
                for j in i..<count {
                    var sum: Float = 0
                    for index in 0..<dimensions { sum += x[i * dimensions + index] * x[j * dimensions + index] }
                    gram[i * count + j] = sum
                    gram[j * count + i] = sum
                }
            }
        }
        self.count = count
        self.dimensions = dimensions
        self.vectors = vectors
        self.gram = gram
    }
}

/// Logistic regression fitted in the span of its examples: the weights are Σ aᵢ xᵢ, and gradient descent
/// on the weights is exactly gradient descent on the coefficients a, whose products with the examples
/// are rows of the Gram matrix. Full-batch, with Nesterov's momentum; the loss (mean weighted
/// cross-entropy, plus the penalty) has curvature at most ½ · (1 + 1) + λ on unit vectors with a bias
/// (a unit vector and the bias's constant 1), so a fixed step of its inverse converges without a line search.
private struct Fit {
    /// `labels` rows of one coefficient per example of the subset.
    var coefficients: [Float]
    var biases: [Float]
    let labels: Int
    let count: Int

    init(examples: Examples, subset: [Int], targets: [Int], labels: Int) {
        self.labels = labels
        let n = subset.count
        count = n
        var perLabel = [Float](repeating: 0, count: labels)
        for target in targets { perLabel[target] += 1 }
        let present = Float(perLabel.count { $0 > 0 })
        let weight = targets.map { 1 / (perLabel[$0] * present) }
        // The subset's Gram matrix, contiguous.
        var gram = [Float](repeating: 0, count: n * n)
        for (row, i) in subset.enumerated() {
            for (column, j) in subset.enumerated() { gram[row * n + column] = examples.gram[i * examples.count + j] }
        }
        let penalty = LabelClassifier.penalty
        let step = 1 / (1 + penalty)
        var coefficients = [Float](repeating: 0, count: labels * n)
        var biases = [Float](repeating: 0, count: labels)
        var previous = coefficients
        var previousBiases = biases
        var ahead = coefficients
        var aheadBiases = biases
        var logits = [Float](repeating: 0, count: labels * n)
        var scores = [Float](repeating: 0, count: labels)
        for iteration in 0..<LabelClassifier.iterations {
            let momentum = Float(iteration) / Float(iteration + 3)
            for index in ahead.indices { ahead[index] = coefficients[index] + momentum * (coefficients[index] - previous[index]) }
            for index in aheadBiases.indices { aheadBiases[index] = biases[index] + momentum * (biases[index] - previousBiases[index]) }
            // logits of label l = b_l + Σⱼ a_lj G_j (G is symmetric: its row j is its column j), as sums of
            // whole rows, which vectorise.
            gram.withUnsafeBufferPointer { g in
                ahead.withUnsafeBufferPointer { a in
                    logits.withUnsafeMutableBufferPointer { z in
                        for label in 0..<labels {
                            let out = z.baseAddress! + label * n
                            for i in 0..<n { out[i] = aheadBiases[label] }
                            for j in 0..<n {
                                let coefficient = a[label * n + j]
                                if coefficient == 0 { continue }
                                let row = g.baseAddress! + j * n
                                for i in 0..<n { out[i] += coefficient * row[i] }
                            }
                        }
                    }
                }
            }
            previous = coefficients
            previousBiases = biases
            var biasGradient = [Float](repeating: 0, count: labels)
            for i in 0..<n {
                for label in 0..<labels { scores[label] = logits[label * n + i] }
                var residual = softmax(scores)
                residual[targets[i]] -= 1
                for label in 0..<labels {
                    let gradient = residual[label] * weight[i]
                    // The penalty's gradient λw is λ Σⱼ aⱼ xⱼ: in coefficients, λa.
                    let index = label * n + i
                    coefficients[index] = ahead[index] - step * (gradient + penalty * ahead[index])
                    biasGradient[label] += gradient
                }
            }
            for label in 0..<labels { biases[label] = aheadBiases[label] - step * biasGradient[label] }
        }
        self.coefficients = coefficients
        self.biases = biases
    }

    /// The logits of any example, through the fit's examples (`subset`).
    func logits(of example: Int, subset: [Int], examples: Examples) -> [Float] {
        var logits = biases
        for (position, j) in subset.enumerated() {
            let product = examples.gram[example * examples.count + j]
            for label in 0..<labels { logits[label] += product * coefficients[label * count + position] }
        }
        return logits
    }
}

/// Probabilities from scores, shifted by the largest so that no exponential overflows.
package func softmax(_ scores: [Float]) -> [Float] {
    let top = scores.max() ?? 0
    let exponentials = scores.map { expf($0 - top) }
    let total = exponentials.reduce(0, +)
    return exponentials.map { $0 / total }
}
