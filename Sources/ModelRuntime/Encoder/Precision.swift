/// How a model's dense layers compute: in float32, exact to the reference, or in 8-bit integers
/// (weights and activations with a scale per group of 64 inputs), about a quarter of the weights' memory and
/// faster, at a small cost in fidelity. Attention, norms and activations stay float32 either way.
public enum Precision: String, CaseIterable, Sendable, Codable, CustomStringConvertible {
    case fp32
    case int8

    public var description: String { rawValue }
}
