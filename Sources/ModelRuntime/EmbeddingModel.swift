import Foundation

/// A sentence-embedding model in Hugging Face / sentence-transformers layout, ready to run.
///
/// The folder holds `config.json`, `model.safetensors`, `tokenizer.json`, and optionally
/// `modules.json`, `1_Pooling/config.json` and `sentence_bert_config.json` (as
/// sentence-transformers saves them). Without those, pooling is mean, vectors are not
/// normalized and sequences are limited by the position embeddings.
///
/// ```swift
/// let model = try EmbeddingModel(directory: URL(filePath: "/models/all-MiniLM-L6-v2"))
/// let vectors = try model.embed(texts: ["A first text", "another"])   // two 384-float vectors
/// ```
public final class EmbeddingModel: Sendable {
    public let tokenizer: Tokenizer
    /// Runs each pass on every core: for one caller, and for the only work there is.
    public let encoder: BertEncoder
    /// Single-threaded encoders over the same weights, one per core, that run separate batches at
    /// once (see ``embed(_:lane:)``).
    private let lanes: [BertEncoder]
    public let pooling: Pooling
    public let normalizes: Bool
    /// Longest sequence the model takes, special tokens included.
    public let maxSequenceLength: Int
    public var dimension: Int { encoder.configuration.hiddenSize }

    /// The instruction set its kernels run with.
    public var kernel: Kernel { encoder.kernel }

    /// How its dense layers compute.
    public let precision: Precision

    /// The CPU, its features, the kernel and the threads of a pass.
    public var computeEnvironment: ComputeEnvironment { ComputeEnvironment(kernel: kernel, precision: precision, threads: encoder.threads) }

    /// - Parameters:
    ///   - kernel: the instruction set to run with; by default the one `CONDUIT_KERNEL` names, or the
    ///     best this CPU runs.
    ///   - precision: how the dense layers compute.
    public init(directory: URL, kernel: Kernel? = nil, precision: Precision = .fp32) throws {
        let kernel = try kernel ?? Kernel.selected()
        guard kernel.runsHere else { throw ModelRuntimeError.unsupported("the \(kernel) kernel on this CPU") }
        let configuration = try BertConfiguration.load(contentsOf: directory.appending(path: "config.json"))
        let weightsPath = directory.appending(path: "model.safetensors").path
        guard FileManager.default.fileExists(atPath: weightsPath) else {
            if FileManager.default.fileExists(atPath: directory.appending(path: "pytorch_model.bin").path) {
                throw ModelRuntimeError.unsupported("weights in pytorch_model.bin; only model.safetensors is read")
            }
            throw ModelRuntimeError.missingFile(weightsPath)
        }
        let weights = try BertWeights(file: SafeTensorsFile(path: weightsPath), configuration: configuration, precision: precision)
        self.precision = precision
        encoder = BertEncoder(configuration: configuration, weights: weights, kernel: kernel)
        lanes = (0..<encoder.threads).map { _ in BertEncoder(configuration: configuration, weights: weights, kernel: kernel, threads: 1) }
        tokenizer = try Tokenizer(contentsOf: directory.appending(path: "tokenizer.json"))
        guard tokenizer.vocabularySize <= configuration.vocabSize else {
            throw ModelRuntimeError.malformedFile(
                directory.path,
                reason: "tokenizer has token ids up to \(tokenizer.vocabularySize - 1), model only \(configuration.vocabSize) embeddings")
        }

        let modules = try Self.moduleTypes(in: directory)
        let poolingFolder = modules.first { $0.type.hasSuffix("models.Pooling") }?.path ?? "1_Pooling"
        let poolingConfig = directory.appending(path: poolingFolder).appending(path: "config.json")
        pooling = FileManager.default.fileExists(atPath: poolingConfig.path) ? try Pooling.load(contentsOf: poolingConfig) : .mean
        normalizes = modules.contains { $0.type.hasSuffix("models.Normalize") }
        if let unsupported = modules.first(where: {
            !["Transformer", "Pooling", "Normalize"].contains($0.type.split(separator: ".").last.map(String.init) ?? "")
        }) {
            throw ModelRuntimeError.unsupported("sentence-transformers module \(unsupported.type)")
        }

        var limit = configuration.maxPositionEmbeddings
        let sentenceConfig = directory.appending(path: "sentence_bert_config.json")
        if let data = try? Data(contentsOf: sentenceConfig),
            let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
            let maxLength = json["max_seq_length"] as? Int
        {
            limit = min(limit, maxLength)
        }
        guard limit > tokenizer.specialTokenCount else {
            throw ModelRuntimeError.malformedFile(
                directory.path,
                reason: "max_seq_length \(limit) leaves no room for text beside \(tokenizer.specialTokenCount) special tokens")
        }
        maxSequenceLength = limit
    }

    private static func moduleTypes(in directory: URL) throws -> [(type: String, path: String)] {
        let url = directory.appending(path: "modules.json")
        guard let data = try? Data(contentsOf: url) else { return [] }
        guard let list = (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] else {
            throw ModelRuntimeError.malformedFile(url.path, reason: "not a list of modules")
        }
        return list.map { ($0["type"] as? String ?? "", $0["path"] as? String ?? "") }
    }

    /// Tokenizes `text` the way sentence-transformers does: special tokens added, truncated to
    /// `maxSequenceLength` (`wasTruncated` tells when the text had more).
    public func tokenize(_ text: String, addSpecialTokens: Bool = true) -> Encoding {
        tokenizer.encode(text, addSpecialTokens: addSpecialTokens, maxLength: maxSequenceLength)
    }

    /// How many batches can run at once, each on one core of its own.
    public var laneCount: Int { lanes.count }

    /// Hands back the scratch memory that passes of more than ``Workspace/retainedTokens`` tokens left
    /// resident on `lane` (the shared encoder when nil): for when the lane goes idle, so that one large
    /// request does not keep its memory for the life of the process.
    public func releaseScratch(lane: Int?) { (lane.map { lanes[$0] } ?? encoder).releaseScratch() }

    /// Bytes of scratch memory in RAM, the shared encoder's and every lane's together.
    public var scratchResidentBytes: Int { lanes.reduce(encoder.scratchResidentBytes) { $0 + $1.scratchResidentBytes } }

    /// One vector per sequence of token ids, pooled and (when the model says so) L2-normalized.
    ///
    /// Without a lane the pass shares each of its steps among every core; with one (below
    /// ``laneCount``) it runs on the calling thread alone, beside the passes of the other lanes. A
    /// server with many requests runs a batch per lane: the cores then never wait for one another,
    /// where a shared pass hands work between them some thirty times per text and stalls whenever
    /// the system gives one of them to other work. The vectors are the same either way.
    public func embed(_ sequences: [[Int32]], lane: Int? = nil) throws -> [[Float]] {
        let width = dimension
        return try (lane.map { lanes[$0] } ?? encoder).encode(sequences) { states, ranges in
            ranges.map { range in
                [Float](unsafeUninitializedCapacity: width) { buffer, count in
                    pooling.pool(states, rows: range, width: width, into: buffer.baseAddress!)
                    if normalizes { Self.normalize(buffer) }
                    count = width
                }
            }
        }
    }

    /// Tokenizes and embeds `texts` in one batch.
    public func embed(texts: [String]) throws -> [[Float]] {
        try embed(texts.map { tokenize($0).ids })
    }

    /// Scales `vector` to unit L2 norm (a zero vector stays zero).
    public static func normalize(_ vector: UnsafeMutableBufferPointer<Float>) {
        var squares: Float = 0
        for value in vector { squares += value * value }
        let norm = squares.squareRoot()
        guard norm > 0 else { return }
        let inverse = 1 / Swift.max(norm, 1e-12)
        for index in vector.indices { vector[index] *= inverse }
    }
}
