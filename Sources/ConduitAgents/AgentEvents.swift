import Store

/// The events of the agent platform.
package enum AgentEvents {
    package static let all: [any EventPayload.Type] = [
        ProjectCreated.self, ProjectTransitioned.self, SpecificationCreated.self, SpecificationVersionCreated.self,
        SpecificationPromoted.self,
        SpecificationSuperseded.self,
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
}
