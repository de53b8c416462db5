import Store

/// The events of the agent platform.
package enum AgentEvents {
    package static let all: [any EventPayload.Type] = [ProjectCreated.self, ProjectTransitioned.self]

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
}
