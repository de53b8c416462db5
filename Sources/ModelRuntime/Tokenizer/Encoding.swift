/// The result of tokenizing one text: what the model sees, and where each token came from.
public struct Encoding: Sendable, Equatable {
    /// Token ids, with the template's special tokens, truncated when a limit was given.
    public var ids: [Int32]
    /// True for tokens the template or an added special token put there.
    public var isSpecial: [Bool]
    /// Each token's UTF-8 byte range in the original text; nil for tokens the template inserted.
    public var offsets: [Range<Int>?]
    /// Whether the text had more tokens than the limit, which were dropped.
    public var wasTruncated: Bool

    public var count: Int { ids.count }
}
