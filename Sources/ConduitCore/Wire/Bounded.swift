extension String {
    /// The most of a caller's identifier (a model name, a kind, a path) that is echoed, logged or stored.
    package static let identifierBytes = 256

    /// This text cut to at most `bytes` bytes of UTF-8, at a character's edge, with "…" where it was cut:
    /// what a client sent is echoed, logged or stored only so far, so that a 7 MiB model name costs no
    /// more than a short one.
    package func bounded(toBytes bytes: Int = identifierBytes) -> String {
        guard utf8.count > bytes else { return self }
        var kept = Substring()
        var used = 0
        let ellipsis = "…".utf8.count
        for character in self {
            let size = character.utf8.count
            if used + size > bytes - ellipsis { break }
            kept.append(character)
            used += size
        }
        return kept + "…"
    }
}
