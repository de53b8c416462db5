import ConduitEmbeddings
import Foundation
import Synchronization
import VectorClassifiers

/// The classifiers that pipelines' examples fit, kept by what each was fitted from (the model, the
/// roles, the labels and the examples): a reload that leaves a pipeline's labels and examples
/// alone fits nothing again, and jobs that start together wait for one fit.
package final class ExampleClassifiers: Sendable {
    /// A pipeline's classifiers: nil for a field none of whose examples is labelled (it is zero-shot).
    package struct Fitted: Sendable {
        package var sentiment: LabelClassifier?
        package var topic: LabelClassifier?
        /// Examples learnt from, how long embedding them took, and how long fitting then took.
        package var examples: Int
        package var embedding: Duration
        package var fitting: Duration
    }

    private let fits = Mutex<[Inputs: Task<Fitted, any Error>]>([:])
    /// Fits kept; beyond it the cache starts again (pipelines are few, and reloads that change them rare).
    package static let capacity = 64

    /// The process's: fits depend only on what they are fitted from, so every server in it (a node has
    /// one; the tests run many over one model) shares them.
    package static let shared = ExampleClassifiers()

    package init() {}

    package func classifiers(for pipeline: PipelineDefinition, embedder: TextEmbedder, served: ServedModel) async throws -> Fitted {
        let key = Inputs(pipeline, model: served.model)
        let task = fits.withLock { fits in
            if let running = fits[key] { return running }
            // Another model's fits are of no use to this one's vectors, and keep that model in memory.
            fits = fits.filter { $0.key.model === served.model }
            if fits.count >= Self.capacity { fits.removeAll() }
            let task = Task { try await Self.fit(pipeline, embedder: embedder, served: served) }
            fits[key] = task
            return task
        }
        do {
            return try await task.value
        } catch {
            // A fit that failed (the model was being replaced) is tried again by the next job.
            fits.withLock { if $0[key] == task { $0[key] = nil } }
            throw error
        }
    }

    /// What a fit depends on: the cache's key, compared whole (no hash collision can hand one
    /// pipeline another's classifier).
    private struct Inputs: Hashable, Sendable {
        /// The model as loaded (the same object, not its name): a reload that serves another model under
        /// the same name fits again.
        var model: any AnyObject & Sendable
        var roles: [String]
        var sentimentRoles: [String]
        var sentiment: [String: String]
        var topics: [String: String]
        var examples: [LabelledConversation]

        init(_ pipeline: PipelineDefinition, model: any AnyObject & Sendable) {
            self.model = model
            roles = pipeline.roles
            sentimentRoles = pipeline.sentimentRoles
            sentiment = pipeline.sentiment
            topics = pipeline.topics
            examples = pipeline.examples
        }

        static func == (left: Inputs, right: Inputs) -> Bool {
            left.model === right.model && left.roles == right.roles && left.sentimentRoles == right.sentimentRoles
                && left.sentiment == right.sentiment && left.topics == right.topics && left.examples == right.examples
        }

        func hash(into hasher: inout Hasher) {
            hasher.combine(ObjectIdentifier(model))
            hasher.combine(roles)
            hasher.combine(sentimentRoles)
            hasher.combine(sentiment)
            hasher.combine(topics)
            hasher.combine(examples)
        }
    }

    /// Embeds the examples as conversations are embedded, and fits a classifier per field whose examples
    /// are labelled. A label without examples of its own learns from its description.
    private static func fit(_ pipeline: PipelineDefinition, embedder: TextEmbedder, served: ServedModel) async throws -> Fitted {
        let started = ContinuousClock.now
        let examples = pipeline.examples
        let embedded = try await withThrowingTaskGroup(of: (Int, EmbeddedConversation).self) { group in
            for (index, example) in examples.enumerated() {
                group.addTask {
                    let text = ConversationText(example.messages, roles: pipeline.roles)
                    // An example none of whose messages is of the analysed roles (a label's example text) is read whole.
                    let readable = text.messages.isEmpty ? ConversationText(example.messages, roles: []) : text
                    return (index, try await embedder.embed(readable, with: served))
                }
            }
            var embedded = [EmbeddedConversation?](repeating: nil, count: examples.count)
            for try await (index, conversation) in group { embedded[index] = conversation }
            return embedded.map { $0! }
        }
        func field(_ descriptions: [String: String], label: (LabelledConversation) -> String?, vector: (EmbeddedConversation) -> [Float])
            async throws -> LabelClassifier?
        {
            let labels = descriptions.keys.sorted()
            var vectors: [[Float]] = []
            var targets: [Int] = []
            for (example, conversation) in zip(examples, embedded) {
                guard let name = label(example), let target = labels.firstIndex(of: name) else { continue }
                vectors.append(vector(conversation))
                targets.append(target)
            }
            guard !vectors.isEmpty else { return nil }
            let unexampled = labels.indices.filter { !targets.contains($0) }
            if !unexampled.isEmpty {
                let described = try await embedder.embedCached(unexampled.map { descriptions[labels[$0]]! }, with: served)
                vectors += described
                targets += unexampled
            }
            return LabelClassifier(labels: labels, vectors: vectors, targets: targets)
        }
        let embeddedAt = ContinuousClock.now
        let sentiment = try await field(pipeline.sentiment, label: \.sentiment) { $0.vector(of: pipeline.sentimentRoles) }
        let topic = try await field(pipeline.topics, label: \.topic) { $0.vector }
        return Fitted(
            sentiment: sentiment, topic: topic, examples: examples.count, embedding: embeddedAt - started,
            fitting: ContinuousClock.now - embeddedAt)
    }
}
