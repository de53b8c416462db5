extension APILimits {
    /// `limits.*`, and `model.truncate`, which says what an over-long input gets.
    package static let settings: [Setting<APILimits>] = [
        .flag(
            "model.truncate", reloadable: true, \.truncate,
            help: "cut inputs longer than the model takes (as sentence-transformers does), or answer 400"),
        .integer("limits.max_body_bytes", 1...1 << 30, reloadable: true, \.maxBodyBytes, help: "largest request body; 413 beyond"),
        .integer(
            "limits.max_inputs", 1...1 << 20, reloadable: true, \.maxInputs, help: "most inputs in one embeddings or tokenize request"),
        .integer(
            "limits.max_request_tokens", 1...1 << 30, reloadable: true, \.maxRequestTokens,
            help: "most tokens in one embeddings request, all inputs together; 400 request_too_large beyond (a batch job takes more)"),
    ]
}

extension APILimits {
    /// Refuses limits no request could meet, naming the setting.
    package func validate() throws {
        for (name, value) in [
            ("limits.max_body_bytes", maxBodyBytes), ("limits.max_inputs", maxInputs), ("limits.max_request_tokens", maxRequestTokens),
        ] where value < 1 {
            throw ConfigurationError("\(name) must be at least 1, got \(value)")
        }
    }
}
