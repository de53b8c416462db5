/// Cosine similarity of two vectors of one length (0 when either is zero).
package func cosineSimilarity<Value: BinaryFloatingPoint>(_ a: [Value], _ b: [Value]) -> Value {
    var dot: Value = 0
    var normA: Value = 0
    var normB: Value = 0
    for (x, y) in zip(a, b) {
        dot += x * y
        normA += x * x
        normB += y * y
    }
    let norms = (normA * normB).squareRoot()
    return norms > 0 ? dot / norms : 0
}
