import Foundation

/// How token states become one sentence vector, as `1_Pooling/config.json` says.
public enum Pooling: String, Sendable, CaseIterable {
    case mean, cls, max

    /// Reads a sentence-transformers pooling config; exactly one supported mode must be set.
    static func load(contentsOf url: URL) throws -> Pooling {
        guard let data = try? Data(contentsOf: url) else { throw ModelRuntimeError.missingFile(url.path) }
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ModelRuntimeError.malformedFile(url.path, reason: "not a JSON object")
        }
        let modes: [(String, Pooling?)] = [
            ("pooling_mode_mean_tokens", .mean), ("pooling_mode_cls_token", .cls), ("pooling_mode_max_tokens", .max),
            ("pooling_mode_mean_sqrt_len_tokens", nil), ("pooling_mode_weightedmean_tokens", nil), ("pooling_mode_lasttoken", nil),
        ]
        let enabled = modes.filter { json[$0.0] as? Bool == true }
        guard enabled.count == 1 else {
            throw ModelRuntimeError.unsupported("pooling with \(enabled.map(\.0)) enabled; exactly one of mean, cls, max is supported")
        }
        guard let pooling = enabled[0].1 else { throw ModelRuntimeError.unsupported("pooling mode \(enabled[0].0)") }
        return pooling
    }

    /// Pools `rows` consecutive token states of width `width` into `output`.
    func pool(_ states: UnsafePointer<Float>, rows: Range<Int>, width: Int, into output: UnsafeMutablePointer<Float>) {
        switch self {
        case .cls:
            output.update(from: states + rows.lowerBound * width, count: width)
        case .mean:
            output.initialize(repeating: 0, count: width)
            for row in rows {
                let state = states + row * width
                for c in 0..<width { output[c] += state[c] }
            }
            let scale = 1 / Float(Swift.max(rows.count, 1))
            for c in 0..<width { output[c] *= scale }
        case .max:
            output.update(from: states + rows.lowerBound * width, count: width)
            for row in rows.dropFirst() {
                let state = states + row * width
                for c in 0..<width { output[c] = Swift.max(output[c], state[c]) }
            }
        }
    }
}
