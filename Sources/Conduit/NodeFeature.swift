import ConduitAdmin
import ConduitChat
import ConduitCore
import ConduitEmbeddings
import ConduitEvents
import ConduitInsights
import ConduitJobs

/// The features a node can run (`server.features`); every one by default. Several nodes on one
/// PostgreSQL may each run a part: a gateway without the local model, a node that only works on jobs.
public enum NodeFeature: String, CaseIterable, Sendable {
    /// The local model: `/v1/embeddings`, `/v1/tokenize`, `/v1/admin/debug`, batch embedding jobs.
    case embeddings
    /// `/v1/chat/completions`, to the providers of `chat.models_file`.
    case chat
    /// `/v1/jobs`.
    case jobs
    /// `/v1/conversations`, `/v1/insights` and their analysis jobs; needs `embeddings`.
    case insights
    /// `/v1/webhooks` and deliveries.
    case webhooks
    /// `/v1/admin/*` (teams, users, keys, usage) and `/v1/auth/*`.
    case admin
}

extension NodeFeature {
    /// What webhooks may subscribe to: the events of every feature a deployment can run, whichever
    /// this node runs (a node delivering webhooks may run none of the features that record events).
    static var eventTopics: [String] {
        let features: [any ConduitFeature.Type] = [
            EmbeddingsFeature.self, ChatFeature.self, JobsFeature.self, InsightsFeature.self, EventsFeature.self, AdminFeature.self,
        ]
        return features.flatMap { $0.eventTopics }
    }
}
