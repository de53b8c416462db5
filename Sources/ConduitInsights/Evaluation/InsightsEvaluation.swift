/// How an analyzer did on labelled conversations: per field (sentiment, main topic) its accuracy,
/// each label's precision and recall, the confusion matrix and how well its stated probabilities are
/// calibrated; how often it was uncertain; what it cost; and its mistakes, to read.
package struct InsightsEvaluation: Codable, Sendable {
    package var pipeline: String
    package var analyzer: String
    package var conversations: Int
    /// Conversations whose analysis failed (an LLM that never answered validly): left out of the scores.
    package var failures: [Failure] = []
    package var fields: [FieldScore] = []
    /// The calibration of the analysis's own `confidence` against both fields being right.
    package var confidence: Calibration?
    /// Analyses below the pipeline's `min_confidence`, and how often those and the others were right (both fields).
    package var uncertain = 0
    package var uncertainAccuracy: Double?
    package var confidentAccuracy: Double?
    /// Analyses an LLM made in their place (`llm_fallback`).
    package var fellBack = 0
    package var usage: [ModelUsage] = []
    /// The local analyzer's fit, when it has examples.
    package var fit: Fit?
    /// Mean time to classify a conversation from its vectors (the embedding aside), local analyzer only.
    package var classificationMilliseconds: Double?
    package var mistakes: [Mistake] = []

    package struct FieldScore: Codable, Sendable {
        package var field: String
        /// Conversations labelled for this field (and analysed).
        package var labelled: Int
        package var accuracy: Double
        package var labels: [LabelScore]
        /// `matrix[i][j]`: conversations labelled `labels[i]` that the analyzer called `labels[j]`.
        package var confusion: Confusion
        package var calibration: Calibration
    }

    package struct LabelScore: Codable, Sendable {
        package var label: String
        package var precision: Double?
        package var recall: Double?
        package var support: Int
    }

    package struct Confusion: Codable, Sendable {
        package var labels: [String]
        package var matrix: [[Int]]
    }

    /// Expected calibration error: the gap between stated confidence and accuracy, averaged over ten
    /// equal-width bins of confidence, weighted by how many fall in each.
    package struct Calibration: Codable, Sendable {
        package var expectedCalibrationError: Double
        package var meanConfidence: Double
    }

    package struct ModelUsage: Codable, Sendable {
        package var model: String
        package var promptTokens: Int
        package var completionTokens: Int
        package var costUSD: Double?
    }

    package struct Fit: Codable, Sendable {
        package var examples: Int
        /// Embedding the examples, then fitting the classifiers on their vectors.
        package var embeddingMilliseconds: Double
        package var fittingMilliseconds: Double

        package enum CodingKeys: String, CodingKey {
            case examples
            case embeddingMilliseconds = "embedding_ms"
            case fittingMilliseconds = "fitting_ms"
        }
    }

    package struct Failure: Codable, Sendable {
        package var id: String
        package var error: String
    }

    package struct Mistake: Codable, Sendable {
        package var id: String
        package var field: String
        package var expected: String
        package var predicted: String
        package var confidence: Double
    }

    /// The usage's cost in all, where any model has a price.
    package var costUSD: Double?

    package init(
        pipeline: String, analyzer: String, conversations labelled: [LabelledConversation],
        outcomes: [Result<InsightsEvaluator.Outcome, any Error>]
    ) {
        self.pipeline = pipeline
        self.analyzer = analyzer
        conversations = labelled.count
        var analysed: [(conversation: LabelledConversation, analysis: Analysis)] = []
        for (index, (conversation, outcome)) in zip(labelled, outcomes).enumerated() {
            switch outcome {
            case .success(let outcome): analysed.append((conversation, outcome.analysis))
            case .failure(let error): failures.append(.init(id: conversation.id ?? "#\(index + 1)", error: "\(error)"))
            }
        }
        uncertain = analysed.count { $0.analysis.uncertain == true }
        func accuracy(_ items: some Collection<(conversation: LabelledConversation, analysis: Analysis)>) -> Double? {
            let labelled = items.filter { $0.conversation.sentiment != nil && $0.conversation.topic != nil }
            guard !labelled.isEmpty else { return nil }
            return Double(
                labelled.count {
                    $0.analysis.sentiment.label == $0.conversation.sentiment && $0.analysis.topics.first?.label == $0.conversation.topic
                })
                / Double(labelled.count)
        }
        uncertainAccuracy = accuracy(analysed.filter { $0.analysis.uncertain == true })
        confidentAccuracy = accuracy(analysed.filter { $0.analysis.uncertain != true })
        fellBack = analysed.count { $0.analysis.fallbackFrom != nil }
        let sentiment = analysed.compactMap { item in
            item.conversation.sentiment.map {
                (item.conversation.id ?? "", $0, item.analysis.sentiment.label, item.analysis.sentiment.score)
            }
        }
        let topic = analysed.compactMap { item in
            item.conversation.topic.map {
                (item.conversation.id ?? "", $0, item.analysis.topics.first?.label ?? "(none)", item.analysis.topics.first?.score ?? 0)
            }
        }
        for (field, predictions) in [("sentiment", sentiment), ("topic", topic)] where !predictions.isEmpty {
            fields.append(Self.score(field, predictions.map { ($0.1, $0.2, $0.3) }))
            mistakes += predictions.filter { $0.1 != $0.2 }.map {
                Mistake(id: $0.0, field: field, expected: $0.1, predicted: $0.2, confidence: $0.3)
            }
        }
        let both = analysed.filter { $0.conversation.sentiment != nil && $0.conversation.topic != nil }
        if !both.isEmpty {
            confidence = Self.calibration(
                both.map { item in
                    let right =
                        item.analysis.sentiment.label == item.conversation.sentiment
                        && item.analysis.topics.first?.label == item.conversation.topic
                    return (item.analysis.confidence, right)
                })
        }
    }

    private static func score(_ field: String, _ predictions: [(expected: String, predicted: String, confidence: Double)]) -> FieldScore {
        let labels = Set(predictions.flatMap { [$0.expected, $0.predicted] }).sorted()
        var counts = [[Int]](repeating: [Int](repeating: 0, count: labels.count), count: labels.count)
        for prediction in predictions {
            counts[labels.firstIndex(of: prediction.expected)!][labels.firstIndex(of: prediction.predicted)!] += 1
        }
        let scores = labels.indices.map { index in
            let predicted = counts.reduce(0) { $0 + $1[index] }
            let support = counts[index].reduce(0, +)
            let right = counts[index][index]
            return LabelScore(
                label: labels[index], precision: predicted > 0 ? Double(right) / Double(predicted) : nil,
                recall: support > 0 ? Double(right) / Double(support) : nil, support: support)
        }
        let right = labels.indices.reduce(0) { $0 + counts[$1][$1] }
        return FieldScore(
            field: field, labelled: predictions.count, accuracy: Double(right) / Double(predictions.count), labels: scores,
            confusion: .init(labels: labels, matrix: counts),
            calibration: calibration(predictions.map { ($0.confidence, $0.expected == $0.predicted) }))
    }

    private static func calibration(_ items: [(confidence: Double, right: Bool)]) -> Calibration {
        var bins = [(count: Int, confidence: Double, right: Int)](repeating: (0, 0, 0), count: 10)
        for item in items {
            let bin = min(9, max(0, Int(item.confidence * 10)))
            bins[bin].count += 1
            bins[bin].confidence += item.confidence
            bins[bin].right += item.right ? 1 : 0
        }
        let error = bins.filter { $0.count > 0 }.reduce(0.0) { sum, bin in
            sum + abs(bin.confidence / Double(bin.count) - Double(bin.right) / Double(bin.count)) * Double(bin.count)
        }
        return Calibration(
            expectedCalibrationError: error / Double(max(items.count, 1)),
            meanConfidence: items.reduce(0) { $0 + $1.confidence } / Double(max(items.count, 1)))
    }

    package enum CodingKeys: String, CodingKey {
        case pipeline, analyzer, conversations, failures, fields, confidence, uncertain, usage, fit, mistakes
        case uncertainAccuracy = "uncertain_accuracy"
        case confidentAccuracy = "confident_accuracy"
        case fellBack = "fell_back"
        case costUSD = "cost_usd"
        case classificationMilliseconds = "classification_ms"
    }
}

extension InsightsEvaluation.Calibration {
    package enum CodingKeys: String, CodingKey {
        case expectedCalibrationError = "expected_calibration_error"
        case meanConfidence = "mean_confidence"
    }
}

extension InsightsEvaluation.ModelUsage {
    package enum CodingKeys: String, CodingKey {
        case model
        case promptTokens = "prompt_tokens"
        case completionTokens = "completion_tokens"
        case costUSD = "cost_usd"
    }
}
