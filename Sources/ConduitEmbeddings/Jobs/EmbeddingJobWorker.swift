import ConduitCore
import Foundation
import ModelRuntime
import NIOCore
import Store

/// Batch embedding: `{"input": ["text", ...], "model": "name", "dimensions": 256}` (model and
/// dimensions optional, as in `/v1/embeddings`). The texts go through the same scheduler as online
/// requests, a chunk at a time at background priority, so that interactive requests overtake them.
/// The vectors are the job's output, little-endian float32, one after another in input order; the
/// result says how to read them. Each chunk's tokens count against the limits of the key that submitted
/// the job and of its team, as its requests' do: a job slows to a per-minute limit, and its attempt fails
/// when a monthly quota is spent (an attempt that fails counts nothing).
public struct EmbeddingJobWorker: JobWorker {
    public static let kind = "embeddings"
    public var kind: String { Self.kind }
    public var isSubmittable: Bool { true }
    public var defaultQueue: String { "embeddings" }
    /// Texts per submission to the scheduler, and so per progress report.
    package static let chunk = 64
    /// Most texts one job takes: its input and output are held in memory while it runs and stored
    /// whole (30 MB of vectors at 384 dimensions).
    public static let maximumTexts = 20_000

    package let catalog: ModelCatalog
    package let limits: Live<APILimits>
    /// Where the tokens each chunk used are recorded, as online requests' are: the usage report and
    /// its costs count batch jobs too.
    package let meter: UsageMeter
    /// Nil where nothing is limited (no store).
    package let rateLimiter: RateLimiter?

    package init(catalog: ModelCatalog, limits: Live<APILimits>, meter: UsageMeter, rateLimiter: RateLimiter?) {
        self.catalog = catalog
        self.limits = limits
        self.meter = meter
        self.rateLimiter = rateLimiter
    }

    package struct Input: Decodable {
        package var input: [String]
        package var model: String?
        package var dimensions: Int?

        package enum CodingKeys: String, CodingKey { case input, model, dimensions }

        package init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            if let text = try? container.decode(String.self, forKey: .input) {
                input = [text]
            } else {
                input = try container.decode([String].self, forKey: .input)
            }
            model = try container.decodeIfPresent(String.self, forKey: .model)
            dimensions = try container.decodeIfPresent(Int.self, forKey: .dimensions)
        }
    }

    package struct Result: Encodable {
        package var model: String
        package var count: Int
        package var dimensions: Int
        package var promptTokens: Int
        /// How to read the output.
        package var outputFormat = "float32le"
    }

    public func validate(input: Data) throws {
        let input = try JSONDecoder().decode(Input.self, from: input)
        guard !input.input.isEmpty, input.input.count <= Self.maximumTexts else {
            throw EmbeddingsError.jobTextCount(input.input.count, maximum: Self.maximumTexts)
        }
        if let index = input.input.firstIndex(where: \.isEmpty) {
            throw EmbeddingsError.emptyJobText(index: index)
        }
        let model = try catalog.resolve(input.model).model
        if let dimensions = input.dimensions, !(1...model.dimension).contains(dimensions) {
            throw EmbeddingsError.dimensionsOutOfRange(dimensions, dimension: model.dimension)
        }
    }

    public func run(_ job: Job, progress: JobProgress) async throws -> JobOutcome {
        let input = try JSONDecoder().decode(Input.self, from: Data(job.input.utf8))
        let served = try catalog.resolve(input.model)
        let model = served.model
        let dimensions = min(input.dimensions ?? model.dimension, model.dimension)
        let limits = self.limits.current
        var output = Data(capacity: input.input.count * dimensions * 4)
        var tokens = 0
        let started = ContinuousClock.now
        let identity = try await rateLimiter?.identity(ofJob: job)
        progress.report(done: 0, total: input.input.count)
        // What this attempt counted: given back if it fails, since its retry computes (and counts) it all again.
        var admitted: [RateLimiter.Admission] = []
        do {
            for start in stride(from: 0, to: input.input.count, by: Self.chunk) {
                let texts = input.input[start..<min(start + Self.chunk, input.input.count)]
                let sequences = try texts.enumerated().map { offset, text in
                    try limits.encode(text, index: start + offset, model: model).ids
                }
                let chunkTokens = sequences.reduce(0) { $0 + $1.count }
                tokens += chunkTokens
                if let rateLimiter, let identity { admitted += try await rateLimiter.admitWork(identity, tokens: chunkTokens) }
                let vectors = try await served.scheduler.embedInBackground(sequences)
                meter.computed(model: served.name, tokens: chunkTokens)
                for vector in model.shortened(vectors, to: dimensions) { output.append(Float32LE.bytes(vector)) }
                progress.report(done: start + texts.count, total: input.input.count)
            }
        } catch {
            for admission in admitted { await rateLimiter?.refund(admission) }
            throw error
        }
        let result = Result(model: served.name, count: input.input.count, dimensions: dimensions, promptTokens: tokens)
        return try JobOutcome(
            encoding: result, output: output,
            usage: [meter.event(teamID: job.teamID, model: served.name, route: "/v1/jobs", tokens: tokens, since: started)])
    }

    /// `jsonl`: the output as JSON lines, `{"index": i, "embedding": [...]}`, in input order.
    public func formattedOutput(_ output: Data, result: String, format: String) throws -> (contentType: String, body: ByteBuffer)? {
        guard format == "jsonl" else { return nil }
        return ("application/jsonl", try Self.jsonLines(output: output, result: result))
    }

    /// The one member of a job's result that reading its output needs.
    private struct Dimensions: Decodable {
        var dimensions: Int
    }

    private static func jsonLines(output: Data, result: String) throws -> ByteBuffer {
        // A result without its dimensions (none of this worker's) has no vectors to show.
        let dimensions = (try? JSONDecoder().decode(Dimensions.self, from: Data(result.utf8)))?.dimensions ?? 0
        guard dimensions > 0 else { return ByteBuffer() }
        var buffer = ByteBuffer()
        let values = Float32LE.floats(output)
        for index in 0..<values.count / dimensions {
            let vector = values[index * dimensions..<(index + 1) * dimensions]
            buffer.writeString(#"{"index":\#(index),"embedding":[\#(vector.map { "\($0)" }.joined(separator: ","))]}"#)
            buffer.writeString("\n")
        }
        return buffer
    }
}
