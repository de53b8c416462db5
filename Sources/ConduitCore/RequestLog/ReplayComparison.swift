import Foundation

/// How the answer to a replayed request differs from the answer the log kept: the status, and for
/// embeddings the cosine similarity of each new vector to its old one; for other answers, whether
/// the JSON is the same.
public struct ReplayComparison: Sendable, Equatable {
    public struct Vectors: Sendable, Equatable {
        public var count: Int
        public var oldDimensions: Int
        public var newDimensions: Int
        /// Nil when the dimensions differ.
        public var minimumCosine: Double?
        public var meanCosine: Double?
    }

    public var oldStatus: Int
    public var newStatus: Int
    /// Both answers are lists of the same number of embeddings.
    public var vectors: Vectors?
    public var sameBody: Bool

    public init(oldStatus: Int, oldBody: String, newStatus: Int, newBody: Data) {
        self.oldStatus = oldStatus
        self.newStatus = newStatus
        let old = try? JSONSerialization.jsonObject(with: Data(oldBody.utf8), options: .fragmentsAllowed)
        let new = try? JSONSerialization.jsonObject(with: newBody, options: .fragmentsAllowed)
        sameBody = old.map { old in new.map { (old as? NSObject)?.isEqual($0) == true } ?? false } ?? false
        if let old = old.flatMap(Self.embeddings), let new = new.flatMap(Self.embeddings), old.count == new.count, !old.isEmpty {
            let cosines = zip(old, new).compactMap { $0.count == $1.count ? cosineSimilarity($0, $1) : nil }
            vectors = Vectors(
                count: old.count, oldDimensions: old[0].count, newDimensions: new[0].count,
                minimumCosine: cosines.count == old.count ? cosines.min() : nil,
                meanCosine: cosines.count == old.count ? cosines.reduce(0, +) / Double(cosines.count) : nil)
        }
    }

    /// What `conduit replay` prints.
    public var summary: String {
        var lines = ["status: \(oldStatus) -> \(newStatus)\(oldStatus == newStatus ? "" : " (changed)")"]
        if let vectors {
            if let minimum = vectors.minimumCosine, let mean = vectors.meanCosine {
                lines.append(
                    "embeddings: \(vectors.count), cosine old/new min \(String(format: "%.6f", minimum)) mean \(String(format: "%.6f", mean))"
                )
            } else {
                lines.append(
                    "embeddings: \(vectors.count), dimensions \(vectors.oldDimensions) -> \(vectors.newDimensions): not comparable")
            }
        } else {
            lines.append("body: \(sameBody ? "the same" : "different")")
        }
        return lines.joined(separator: "\n")
    }

    /// The vectors of an embeddings answer, in index order; float arrays or base64 (little-endian float32).
    package static func embeddings(_ json: Any) -> [[Double]]? {
        guard let data = (json as? [String: Any])?["data"] as? [[String: Any]] else { return nil }
        var vectors: [(Int, [Double])] = []
        for item in data {
            guard let index = item["index"] as? Int else { return nil }
            if let values = item["embedding"] as? [NSNumber] {
                vectors.append((index, values.map(\.doubleValue)))
            } else if let text = item["embedding"] as? String, let bytes = Data(base64Encoded: text), bytes.count % 4 == 0 {
                let floats = Float32LE.floats(bytes).map(Double.init)
                vectors.append((index, floats))
            } else {
                return nil
            }
        }
        return vectors.sorted { $0.0 < $1.0 }.map(\.1)
    }

}
