import Dispatch
import Foundation
import ModelRuntime
import Synchronization

/// The model's own throughput, with no server around it, for `conduit bench`: what the HTTP figures
/// are compared with, measured the way the ONNX Runtime peer is (tokenize, encode, pool and normalise
/// length-sorted batches).
public struct InProcessBenchmark: Sendable {
    private let model: EmbeddingModel

    public init(directory: URL, precision: Precision) throws { model = try EmbeddingModel(directory: directory, precision: precision) }

    /// What this process's models compute on: the kernel `CONDUIT_KERNEL` forces, or the best this CPU runs.
    public static func computeEnvironment(precision: Precision) throws -> ComputeEnvironment {
        ComputeEnvironment(kernel: try Kernel.selected(), precision: precision, threads: ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Median over `runs` of embedding every batch of `texts`, sorted by length: one batch at a time on
    /// every core, or `onLanes`, a batch per lane at once, as the server computes under load.
    public func measure(
        _ texts: [String], batchSize: Int, onLanes: Bool, runs: Int
    ) throws -> (textsPerSecond: Double, tokensPerSecond: Double) {
        let model = self.model
        let sorted = texts.sorted { $0.count < $1.count }
        let tokens = sorted.reduce(0) { $0 + model.tokenize($1).count }
        let batches = stride(from: 0, to: sorted.count, by: batchSize).map { Array(sorted[$0..<min($0 + batchSize, sorted.count)]) }
        @Sendable func embed(_ batch: [String], lane: Int?) throws { _ = try model.embed(batch.map { model.tokenize($0).ids }, lane: lane) }
        // Warm-up: each encoder the run uses grows its scratch memory outside the timed runs.
        let warmed: [Int?] = onLanes ? (0..<model.laneCount).map { $0 } : [nil]
        for lane in warmed { try embed(batches[0], lane: lane) }
        var seconds: [Double] = []
        for _ in 0..<runs {
            let start = ContinuousClock.now
            if onLanes {
                let next = Atomic<Int>(0)
                let failure = Mutex<(any Error)?>(nil)
                DispatchQueue.concurrentPerform(iterations: model.laneCount) { lane in
                    while case let index = next.add(1, ordering: .relaxed).oldValue, index < batches.count {
                        do { try embed(batches[index], lane: lane) } catch { failure.withLock { $0 = error } }
                    }
                }
                if let error = failure.withLock({ $0 }) { throw error }
            } else {
                for batch in batches { try embed(batch, lane: nil) }
            }
            seconds.append((ContinuousClock.now - start) / .seconds(1))
        }
        let median = seconds.sorted()[seconds.count / 2]
        return (Double(sorted.count) / median, Double(tokens) / median)
    }
}
