import ConduitCore

extension UpstreamConfiguration {
    /// `upstream.*`: the OpenAI-compatible provider that `llm:` analyzers call.
    package static let settings: [Setting<UpstreamConfiguration>] = [
        .text(
            "upstream.base_url", allowed: "the http(s) base URL of an OpenAI-compatible API (https://api.openai.com/v1)",
            reloadable: true, \.baseURL, help: "the provider's base URL; calls go to {base_url}/chat/completions",
            parse: { SettingValues.httpURL($0).map { .some($0) } }, show: { $0.map(SettingValues.withoutCredentials) }),
        .text(
            "upstream.api_key", allowed: "the upstream's API key", secret: true, reloadable: true, \.apiKey,
            help: "the provider's API key (better in CONDUIT_UPSTREAM_API_KEY or a file)", parse: { $0 }, show: { $0 }),
        .text(
            "upstream.api_key_file", allowed: "a readable file holding the upstream's API key", reloadable: true, \.apiKey,
            help: "a file holding the provider's API key; wins over api_key", parse: SettingValues.secretFile, show: { _ in nil }),
        .seconds("upstream.timeout_seconds", reloadable: true, \.timeout, help: "longest one call may take"),
        .integer(
            "upstream.circuit_failures", 1...1000, reloadable: true, \.circuitFailures,
            help: "failed calls in a row (unreachable, timeout, 429, 5xx) that open the circuit"),
        .seconds(
            "upstream.circuit_cooldown_seconds", reloadable: true, \.circuitCooldown,
            help: "how long calls fail at once when the circuit is open, before one trial call decides"),
    ]
}
