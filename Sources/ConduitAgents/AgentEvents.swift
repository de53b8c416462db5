import Store

/// The events of the agent platform.
package enum AgentEvents {
    package static let all: [any EventPayload.Type] = [
        ProjectCreated.self, ProjectTransitioned.self, SpecificationCreated.self, SpecificationVersionCreated.self,
        SpecificationPromoted.self,
        SpecificationSuperseded.self, SessionCreated.self, SessionEnded.self, TurnQueued.self, TurnStarted.self, AgentSelected.self,
        TurnCompleted.self, TurnFailed.self, TurnCancelled.self,
    ]

    package struct ProjectCreated: EventPayload {
        package static let type = "project.created"
        package static let summary = "A project was made, in its domain's initial state."
        package static let scope = Scope.agents
        package static let example = ProjectCreated(
            projectID: "3c1d…", name: "Checkout rewrite", domain: "web-application", state: "discovery")

        package var projectID: String
        package var name: String
        package var domain: String
        package var state: String

        package var resource: String? { "project:\(projectID)" }
    }

    package struct ProjectTransitioned: EventPayload {
        package static let type = "project.transitioned"
        package static let summary = "A project moved from one state of its lifecycle to another, its guards satisfied."
        package static let scope = Scope.agents
        package static let example = ProjectTransitioned(
            projectID: "3c1d…", from: "specification", to: "planning", reason: "requirements signed off", version: 2)

        package var projectID: String
        package var from: String
        package var to: String
        package var reason: String
        /// The project's version after the move.
        package var version: Int64

        package var resource: String? { "project:\(projectID)" }
    }

    package struct SpecificationCreated: EventPayload {
        package static let type = "specification.created"
        package static let summary = "A project began a specification under a key (its versions follow)."
        package static let scope = Scope.agents
        package static let example = SpecificationCreated(specificationID: "8e2a…", projectID: "3c1d…", key: "requirements")

        package var specificationID: String
        package var projectID: String
        package var key: String

        package var resource: String? { "specification:\(specificationID)" }
    }

    package struct SpecificationVersionCreated: EventPayload {
        package static let type = "specification.version_created"
        package static let summary = "A new version of a specification was written, as a draft, from the version before it."
        package static let scope = Scope.agents
        package static let example = SpecificationVersionCreated(
            specificationID: "8e2a…", projectID: "3c1d…", key: "requirements", version: 3, baseVersion: 2, agent: "requirements-analyst")

        package var specificationID: String
        package var projectID: String
        package var key: String
        package var version: Int64
        package var baseVersion: Int64?
        /// The agent that wrote it, when one did.
        package var agent: String?

        package var resource: String? { "specification:\(specificationID)" }
    }

    package struct SpecificationPromoted: EventPayload {
        package static let type = "specification.promoted"
        package static let summary = "A version of a specification became its current one."
        package static let scope = Scope.agents
        package static let example = SpecificationPromoted(
            specificationID: "8e2a…", projectID: "3c1d…", key: "requirements", version: 3, previous: 2)

        package var specificationID: String
        package var projectID: String
        package var key: String
        package var version: Int64
        /// The version it replaced as current.
        package var previous: Int64?

        package var resource: String? { "specification:\(specificationID)" }
    }

    package struct SpecificationSuperseded: EventPayload {
        package static let type = "specification.superseded"
        package static let summary = "The current version of a specification was replaced by the promotion of another."
        package static let scope = Scope.agents
        package static let example = SpecificationSuperseded(
            specificationID: "8e2a…", projectID: "3c1d…", key: "requirements", version: 2, supersededBy: 3)

        package var specificationID: String
        package var projectID: String
        package var key: String
        package var version: Int64
        package var supersededBy: Int64

        package var resource: String? { "specification:\(specificationID)" }
    }

    package struct SessionCreated: EventPayload {
        package static let type = "session.created"
        package static let summary = "A session with a project's agents began, pinning the agents' versions."
        package static let scope = Scope.agents
        package static let example = SessionCreated(sessionID: "5b7e…", projectID: "3c1d…", concurrency: "reject")

        package var sessionID: String
        package var projectID: String
        package var concurrency: String

        package var resource: String? { "session:\(sessionID)" }
    }

    package struct SessionEnded: EventPayload {
        package static let type = "session.ended"
        package static let summary = "A session ended; its queued turns were cancelled."
        package static let scope = Scope.agents
        package static let example = SessionEnded(sessionID: "5b7e…", projectID: "3c1d…")

        package var sessionID: String
        package var projectID: String

        package var resource: String? { "session:\(sessionID)" }
    }

    package struct TurnQueued: EventPayload {
        package static let type = "turn.queued"
        package static let summary = "A turn was asked for while another ran, and waits its turn (the session enqueues)."
        package static let scope = Scope.agents
        package static let example = TurnQueued(sessionID: "5b7e…", turnID: "c40f…", seq: 3, position: 1)

        package var sessionID: String
        package var turnID: String
        package var seq: Int64
        package var position: Int

        package var resource: String? { "session:\(sessionID)" }
    }

    package struct TurnStarted: EventPayload {
        package static let type = "turn.started"
        package static let summary = "A turn began: its agent is being called."
        package static let scope = Scope.agents
        package static let example = TurnStarted(sessionID: "5b7e…", turnID: "c40f…", seq: 3, agent: "architect", agentVersion: 2)

        package var sessionID: String
        package var turnID: String
        package var seq: Int64
        package var agent: String?
        package var agentVersion: Int64?

        package var resource: String? { "session:\(sessionID)" }
    }

    package struct AgentSelected: EventPayload {
        package static let type = "agent.selected"
        package static let summary = "The router chose the agent for a turn, and why: the routing audit trail."
        package static let scope = Scope.agents
        package static let example = AgentSelected(
            sessionID: "5b7e…", turnID: "c40f…", agent: "architect", agentVersion: 2, method: "semantic", confidence: 0.41)

        package var sessionID: String
        package var turnID: String
        package var agent: String
        package var agentVersion: Int64?
        package var method: String
        package var confidence: Double

        package var resource: String? { "session:\(sessionID)" }
    }

    package struct TurnCompleted: EventPayload {
        package static let type = "turn.completed"
        package static let summary = "A turn's agent answered; its tokens and cost are stored with it."
        package static let scope = Scope.agents
        package static let example = TurnCompleted(
            sessionID: "5b7e…", turnID: "c40f…", seq: 3, agent: "architect", promptTokens: 812, completionTokens: 344, costUSD: 0.00033)

        package var sessionID: String
        package var turnID: String
        package var seq: Int64
        package var agent: String?
        package var promptTokens: Int64?
        package var completionTokens: Int64?
        package var costUSD: Double?

        package var resource: String? { "session:\(sessionID)" }
    }

    package struct TurnFailed: EventPayload {
        package static let type = "turn.failed"
        package static let summary = "A turn ended without an answer: the model refused or failed, or its node stopped."
        package static let scope = Scope.agents
        package static let example = TurnFailed(sessionID: "5b7e…", turnID: "c40f…", seq: 3, error: "upstream_timeout")

        package var sessionID: String
        package var turnID: String
        package var seq: Int64
        package var error: String

        package var resource: String? { "session:\(sessionID)" }
    }

    package struct TurnCancelled: EventPayload {
        package static let type = "turn.cancelled"
        package static let summary = "A turn was cancelled (by its caller, or its caller left), with the provider's call."
        package static let scope = Scope.agents
        package static let example = TurnCancelled(sessionID: "5b7e…", turnID: "c40f…", seq: 3)

        package var sessionID: String
        package var turnID: String
        package var seq: Int64

        package var resource: String? { "session:\(sessionID)" }
    }
}
