import ConduitCore
import Crypto
import Foundation
import NIOCore
import Store

/// Answers to deterministic requests (temperature 0, or a seed) kept in the store, per team, for
/// `chat.cache_ttl_seconds`, so that every node answers a repeated request without calling a provider.
/// Keyed by the request as the provider would get it (its JSON normalised: keys sorted, spacing gone)
/// and the model it names, resolved from an alias: `gpt4` and `gpt-4o` share answers.
struct ExactCache: Sendable {
    let store: Database

    /// Whether an answer to `request` may be kept and reused: it asks for the same answer every time, and
    /// not as a stream.
    static func isCacheable(_ request: ChatCompletionRequest) -> Bool {
        guard !request.stream else { return false }
        if let seed = request.fields["seed"], seed != .null { return true }
        switch request.fields["temperature"] {
        case .integer(0)?, .number(0)?: return true
        default: return false
        }
    }

    /// The request's key.
    static func key(_ request: ChatCompletionRequest, model: GatewayModel) throws -> String {
        try fingerprint(request.fields, model: model)
    }

    /// SHA-256 of a body's normalised JSON, with `model` the served model's own name: what the caches key
    /// answers by.
    static func fingerprint(_ fields: [String: JSONValue], model: GatewayModel) throws -> String {
        var fields = fields
        fields["model"] = .string(model.name)
        return SHA256.hash(data: try JSONValue.object(fields).canonicalJSON()).hexadecimal
    }

    func answer(team: String, key: String) async -> CachedAnswer? {
        // A cache that cannot be read is a miss, not a failed call.
        try? await store.chatCache.find(teamID: team, key: key)
    }

    func keep(_ body: ByteBuffer, team: String, key: String, deployment: String, for ttl: Duration) async {
        let now = StoreTime.now()
        let answer = CachedAnswer(
            teamID: team, key: key, body: String(buffer: body), deployment: deployment, createdAt: now,
            expiresAt: now + Int64(ttl / .milliseconds(1)))
        try? await store.chatCache.store(answer)
    }
}
