/// Limits every API request is held to.
public struct APILimits: Sendable, Equatable {
    /// Largest request body accepted, in bytes (413 beyond).
    public var maxBodyBytes: Int
    /// Most inputs in one embeddings or tokenize request.
    public var maxInputs: Int
    /// Most tokens in one embeddings request, all inputs together (400 request_too_large beyond): what one
    /// request may hold the model for. Half the scheduler's default queue, so that others always find room.
    public var maxRequestTokens: Int
    /// Whether inputs longer than the model takes are cut (as sentence-transformers does) or refused with 400.
    public var truncate: Bool

    public init(maxBodyBytes: Int = 8 << 20, maxInputs: Int = 2048, maxRequestTokens: Int = 131_072, truncate: Bool = true) {
        self.maxBodyBytes = maxBodyBytes
        self.maxInputs = maxInputs
        self.maxRequestTokens = maxRequestTokens
        self.truncate = truncate
    }
}
