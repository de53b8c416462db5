import Foundation
import Testing
import VectorClassifiers

@Suite("Label classifier: logistic regression on unit vectors, calibrated")
struct LabelClassifierTests {
    /// Unit vectors near `centre` (a unit vector of `dimensions`), `spread` the noise's size per dimension.
    private static func sample(near centre: [Float], spread: Float, count: Int, using random: inout SeededGenerator) -> [[Float]] {
        (0..<count).map { _ in
            unit(centre.map { $0 + spread * Float.random(in: -1...1, using: &random) })
        }
    }

    private static func unit(_ vector: [Float]) -> [Float] {
        let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return vector.map { $0 / norm }
    }

    private static func axis(_ index: Int, of dimensions: Int) -> [Float] {
        (0..<dimensions).map { $0 == index ? 1 : 0 }
    }

    @Test("separable labels are learnt: new vectors near each label's examples get that label, and probabilities sum to 1")
    func separable() {
        var random = SeededGenerator(seed: 1)
        let labels = ["a", "b", "c"]
        var vectors: [[Float]] = []
        var targets: [Int] = []
        for label in labels.indices {
            vectors += Self.sample(near: Self.axis(label, of: 16), spread: 0.3, count: 20, using: &random)
            targets += Array(repeating: label, count: 20)
        }
        let classifier = LabelClassifier(labels: labels, vectors: vectors, targets: targets)
        #expect(classifier.labels == labels)
        for label in labels.indices {
            for vector in Self.sample(near: Self.axis(label, of: 16), spread: 0.3, count: 10, using: &random) {
                let probabilities = classifier.probabilities(vector)
                #expect(abs(probabilities.reduce(0, +) - 1) < 1e-4)
                #expect(probabilities.indices.max { probabilities[$0] < probabilities[$1] } == label)
                #expect(probabilities[label] > 0.8)
            }
        }
    }

    @Test("each label weighs the same: nine times more examples of one does not pull a vector halfway between towards it")
    func balanced() {
        var random = SeededGenerator(seed: 2)
        let many = Self.sample(near: Self.axis(0, of: 8), spread: 0.2, count: 90, using: &random)
        let few = Self.sample(near: Self.axis(1, of: 8), spread: 0.2, count: 10, using: &random)
        let classifier = LabelClassifier(
            labels: ["many", "few"], vectors: many + few, targets: Array(repeating: 0, count: 90) + Array(repeating: 1, count: 10))
        let between = Self.unit(zip(Self.axis(0, of: 8), Self.axis(1, of: 8)).map { $0 + $1 })
        // Weighing examples, the majority's prior of 0.9 would leave the minority about 0.1 here.
        let probabilities = classifier.probabilities(between)
        #expect(probabilities[1] > 0.25, "\(probabilities)")
    }

    @Test("on labels that overlap, the calibrated probabilities match how often the label is right on vectors it never saw")
    func calibrated() {
        var random = SeededGenerator(seed: 3)
        let dimensions = 48
        // Two labels whose vectors overlap: no classifier is sure, and the penalty's pull on the weights
        // leaves the fitted one underconfident before calibration.
        let centres = [
            Self.unit(Self.axis(1, of: dimensions).enumerated().map { $0.offset == 0 ? 0.3 : $0.element }), Self.axis(1, of: dimensions),
        ]
        func draw(_ count: Int) -> (vectors: [[Float]], targets: [Int]) {
            var vectors: [[Float]] = []
            var targets: [Int] = []
            for label in 0..<2 {
                vectors += Self.sample(near: centres[label], spread: 0.4, count: count, using: &random)
                targets += Array(repeating: label, count: count)
            }
            return (vectors, targets)
        }
        let training = draw(300)
        let classifier = LabelClassifier(labels: ["x", "y"], vectors: training.vectors, targets: training.targets)

        let fresh = draw(1000)
        var bins = [(count: Int, confidence: Float, right: Int)](repeating: (0, 0, 0), count: 10)
        for (vector, target) in zip(fresh.vectors, fresh.targets) {
            let probabilities = classifier.probabilities(vector)
            let said = probabilities[0] >= probabilities[1] ? 0 : 1
            let bin = min(9, Int(probabilities[said] * 10))
            bins[bin].count += 1
            bins[bin].confidence += probabilities[said]
            bins[bin].right += said == target ? 1 : 0
        }
        let error = bins.filter { $0.count > 0 }.reduce(Float(0)) { $0 + abs($1.confidence - Float($1.right)) } / Float(fresh.targets.count)
        let accuracy = Float(bins.reduce(0) { $0 + $1.right }) / Float(fresh.targets.count)
        #expect(accuracy > 0.6 && accuracy < 0.97, "the labels should overlap: accuracy \(accuracy)")
        #expect(error < 0.06, "expected calibration error \(error), accuracy \(accuracy)")
    }

    @Test("with too few examples to hold any out, the temperature stays 1")
    func fewExamples() {
        let classifier = LabelClassifier(labels: ["a", "b"], vectors: [Self.axis(0, of: 4), Self.axis(1, of: 4)], targets: [0, 1])
        #expect(classifier.temperature == 1)
        #expect(classifier.probabilities(Self.axis(0, of: 4))[0] > 0.5)
    }
}
