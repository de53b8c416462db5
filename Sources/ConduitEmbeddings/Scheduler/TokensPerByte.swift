/// The fewest tokens per byte of request body among a model's recent requests: from a new body's
/// size alone, a number of tokens it very likely has at least. A node whose queue has less room
/// than that refuses the request before reading and parsing it; parsing every body of a flood only
/// to refuse it at the queue took a third of the event loops' time.
///
/// A body with fewer tokens per byte than all of the recent ones (long runs of whitespace, escaped
/// characters) may be refused while the queue could just have taken it: the node was that close to
/// full, and the refusal says when to come back.
struct TokensPerByte: Sendable {
    /// Requests remembered: enough that one odd body does not set the bound, few enough that the
    /// bound follows a change of traffic.
    static let remembered = 64

    private var ratios: [Double] = []
    private var next = 0

    mutating func record(tokens: Int, bytes: Int) {
        guard tokens > 0, bytes > 0 else { return }
        let ratio = Double(tokens) / Double(bytes)
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
