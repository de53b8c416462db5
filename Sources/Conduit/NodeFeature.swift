import ConduitAdmin
import ConduitAgents
import ConduitChat
import ConduitCore
import ConduitEmbeddings
import ConduitEvents
import ConduitInsights
import ConduitJobs
import Store

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
    /// The event log: `/v1/events` (history and live streams), `/v1/webhooks` and deliveries.
    case webhooks
    /// `/v1/admin/*` (teams, users, keys, usage) and `/v1/auth/*`.
    case admin
    /// The agent platform: `/v1/agents`, `/v1/domains`, `/v1/route`, `/v1/projects`; needs `embeddings` (its router uses the local model).
    case agents
}

extension NodeFeature {
    /// The event catalogue: the events of every feature a deployment can run, whichever this node runs
    /// (a node delivering events may run none of the features that record them).
    package static var eventTypes: [any EventPayload.Type] {
        let features: [any ConduitFeature.Type] = [
            EmbeddingsFeature.self, ChatFeature.self, JobsFeature.self, InsightsFeature.self, EventsFeature.self, AdminFeature.self,
            AgentsFeature.self,
        ]
        // And the node's own: its configuration and model reloads.
        return features.flatMap { $0.eventTypes } + NodeEvents.all
    }
}
