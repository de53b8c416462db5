import ConduitCore
import Foundation
import NIOCore
import Store

/// Answers reused for prompts that mean the same, for the models that opt in
/// (`semantic_cache_threshold`): a single-turn request's user message is embedded by the node's local
/// model and compared with the team's latest answered ones in the same context (the same model, system
/// prompt and parameters). Single-turn only: a reply further into a conversation depends on all of it,
/// and a reused one goes stale. Kept in the store, for `chat.cache_ttl_seconds`, so every node shares it.
struct SemanticCache: Sendable {
    let store: Database
    let local: any LocalEmbeddings

    /// Entries compared per lookup: the newest of the context.
    static let window = 200

    /// A single-turn request's prompt, embedded, ready to look up and to keep the answer under.
    struct Prompt: Sendable {
        var context: String
        var text: String
        var embeddingModel: String
        var vector: [Float]
    }

    /// A kept answer similar enough.
    struct Hit: Sendable {
        var body: String
        var deployment: String
        var similarity: Double
    }

    /// The user message of a single-turn request (system or developer messages, then one user message of
    /// text), and its context: SHA-256 of the request normalised without that message's text, the model
    /// named by its own name. Nil for anything else.
    static func prompt(of request: ChatCompletionRequest, model: GatewayModel) throws -> (context: String, text: String)? {
        guard !request.stream, case .array(let messages)? = request.fields["messages"], let last = messages.last?.objectValue,
            last["role"] == "user", let text = Self.text(of: last["content"]), !text.isEmpty,
            messages.dropLast().allSatisfy({ ["system", "developer"].contains($0.objectValue?["role"]?.stringValue ?? "") })
        else { return nil }
        var fields = request.fields
        var withoutPrompt = messages
        var prompt = last
        prompt["content"] = nil
        withoutPrompt[messages.count - 1] = .object(prompt)
        fields["messages"] = .array(withoutPrompt)
        return (try ExactCache.fingerprint(fields, model: model), text)
    }

    /// Embeds `text` for lookups and keeping; nil when it is longer than the model reads (two long prompts
    /// that begin alike would look the same).
    func embed(_ text: String, context: String, tenant: String) async throws -> Prompt? {
        guard let (model, vector) = try await local.vector(of: text, tenant: tenant) else { return nil }
        return Prompt(context: context, text: text, embeddingModel: model, vector: vector)
    }

    /// The most similar answer kept for `prompt` in `team`, if at least `threshold` similar.
    func answer(to prompt: Prompt, team: String, threshold: Double) async -> Hit? {
        // A cache that cannot be read is a miss, not a failed call.
        guard
            let entries = try? await store.chatSemanticCache.candidates(
                teamID: team, context: prompt.context, embeddingModel: prompt.embeddingModel, limit: Self.window)
        else { return nil }
        var best: Hit?
        for entry in entries {
            let vector = Float32LE.floats(entry.embedding)
            guard vector.count == prompt.vector.count else { continue }
            let similarity = Double(cosineSimilarity(prompt.vector, vector))
            if similarity >= threshold, similarity > best?.similarity ?? -1 {
                best = Hit(body: entry.body, deployment: entry.deployment, similarity: similarity)
            }
        }
        return best
    }

    func keep(_ body: ByteBuffer, for prompt: Prompt, team: String, deployment: String, ttl: Duration) async {
        let now = StoreTime.now()
        let entry = SemanticCacheEntry(
            teamID: team, context: prompt.context, embeddingModel: prompt.embeddingModel, embedding: Float32LE.bytes(prompt.vector),
            prompt: prompt.text, body: String(buffer: body), deployment: deployment, createdAt: now,
            expiresAt: now + Int64(ttl / .milliseconds(1)))
        try? await store.chatSemanticCache.store(entry)
    }

    /// A message's text: its content, or its text parts joined; nil when it holds anything else (an image).
    private static func text(of content: JSONValue?) -> String? {
        switch content {
        case .string(let text)?: return text
        case .array(let parts)?:
            var texts: [String] = []
            for part in parts {
                guard part.objectValue?["type"] == "text", let text = part.objectValue?["text"]?.stringValue else { return nil }
                texts.append(text)
            }
            return texts.joined(separator: "\n")
        default: return nil
        }
    }
}
