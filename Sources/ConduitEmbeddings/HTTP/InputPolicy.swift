import ConduitCore
import ModelRuntime

/// How inputs become token sequences, the same for every route: texts are cut to what the model
/// takes, or refused with 400 when the server is set not to truncate; token ids must be in the
/// vocabulary.
extension APILimits {
    /// The tokens of `text`, which is input number `index` of the request.
    package func encode(_ text: String, index: Int, model: EmbeddingModel, addSpecialTokens: Bool = true) throws -> Encoding {
        let encoding = model.tokenize(text, addSpecialTokens: addSpecialTokens)
        guard !encoding.wasTruncated || truncate else {
            throw EmbeddingsError.inputTooLong(index: index, tokens: "more than \(model.maxSequenceLength)", limit: model.maxSequenceLength)
        }
        return encoding
    }

    /// `ids`, input number `index`, checked against the vocabulary and cut to what the model takes.
    package func sequence(ofTokenIDs ids: [Int], index: Int, model: EmbeddingModel) throws -> [Int32] {
        let vocabulary = model.encoder.configuration.vocabSize
        guard !ids.isEmpty else { throw EmbeddingsError.emptyTokenArray(index: index) }
        if let bad = ids.first(where: { $0 < 0 || $0 >= vocabulary }) {
            throw EmbeddingsError.tokenIDOutsideVocabulary(index: index, id: bad, vocabulary: vocabulary)
        }
        let limit = model.maxSequenceLength
        guard ids.count <= limit || truncate else { throw EmbeddingsError.inputTooLong(index: index, tokens: "\(ids.count)", limit: limit) }
        return ids.prefix(limit).map { Int32($0) }
    }
}
