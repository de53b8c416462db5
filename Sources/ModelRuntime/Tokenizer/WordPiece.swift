/// Hugging Face `tokenizers`' WordPiece model: greedy longest-match-first against the
/// vocabulary, with a prefix marking pieces that continue a word.
struct WordPiece: Sendable {
    let vocabulary: [String: Int32]
    let unknownTokenID: Int32
    let continuingSubwordPrefix: String
    let maxInputCharsPerWord: Int

    /// The pieces of one word: each its id and its range within `word`.
    /// A word with a part that matches nothing, or longer than the limit, becomes the unknown token.
    func pieces(of word: ArraySlice<Unicode.Scalar>) -> [(id: Int32, range: Range<Int>)] {
        let whole = word.startIndex..<word.endIndex
        if word.count > maxInputCharsPerWord { return [(unknownTokenID, whole)] }
        var pieces: [(id: Int32, range: Range<Int>)] = []
        var start = word.startIndex
        while start < word.endIndex {
            var end = word.endIndex
            var match: Int32?
            while start < end {
                var candidate = start > word.startIndex ? continuingSubwordPrefix : ""
                candidate.unicodeScalars.append(contentsOf: word[start..<end])
                if let id = vocabulary[candidate] {
                    match = id
                    break
                }
                end -= 1
            }
            guard let id = match else { return [(unknownTokenID, whole)] }
            pieces.append((id, start..<end))
            start = end
        }
        return pieces
    }
}
