/// The fewest tokens per byte of request body among a model's recent requests: from a new body's
/// size alone, a number of tokens it very likely has at least. A node whose queue has less room
/// than that refuses the request before reading and parsing it; parsing every body of a flood only
/// to refuse it at the queue took a third of the event loops' time.
///
/// A body with fewer tokens per byte than all of the recent ones (long runs of whitespace, escaped
/// characters, texts longer than the model reads, which are cut) may be refused while the queue could
/// just have taken it: the node was that close to full, and the refusal says when to come back. A
/// request's ratio counts at most `densest`, so that a caller sending dense bodies (punctuation, many
/// one-letter texts) cannot make everyone's prose look more than about twice its size.
struct TokensPerByte: Sendable {
    /// Requests remembered: enough that one odd body does not set the bound, few enough that the
    /// bound follows a change of traffic.
    static let remembered = 64
    /// About what text of three-byte characters, a token each (CJK), has; English prose has 0.2.
    static let densest = 0.35

    private var ratios: [Double] = []
    private var next = 0

    mutating func record(tokens: Int, bytes: Int) {
        guard tokens > 0, bytes > 0 else { return }
        let ratio = min(Self.densest, Double(tokens) / Double(bytes))
        if ratios.count < Self.remembered {
            ratios.append(ratio)
        } else {
            ratios[next] = ratio
        }
        next = (next + 1) % Self.remembered
    }

    /// The tokens a body of `bytes` has at least, as far as the recent requests tell: 1 before any.
    func fewestTokens(inBytes bytes: Int) -> Int {
        guard let fewest = ratios.min() else { return 1 }
        return max(1, Int(fewest * Double(bytes)))
    }
}
