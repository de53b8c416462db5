import ConduitChat
import ConduitCore
import ConduitEmbeddings
import ServiceLifecycle
import Store

/// The agent platform: agents and domains declared in files (`/v1/agents`, `/v1/domains`), the router
/// (`/v1/route`, with evaluation and calibration), projects moving through their domain's lifecycle
/// (`/v1/projects`), their versioned specifications (`/v1/specifications`), and sessions whose turns call the
/// agents' models through the gateway (`/v1/sessions`). Routing uses the local embedding model; all but turns
/// work without a chat model.
package struct AgentsFeature: ConduitFeature {
    let agents: AgentsController
    let projects: ProjectsController
    let specifications: SpecificationsController
    let sessions: SessionsController
    let sweeper: TurnSweeper

    package init(
        teams: TeamScope, configuration: Live<AgentsConfiguration>, embedder: TextEmbedder, limits: Live<APILimits>,
        rateLimiter: RateLimiter?, chat: ChatCompletionsController?
    ) {
        let turns = TurnRunner(store: teams.store, chat: chat)
        let router = AgentRouter(embedder: embedder)
        let versions = AgentVersions(store: teams.store)
        agents = AgentsController(
            library: configuration, versions: versions, router: router,
            projects: teams.store.projects, teams: teams, servesChatModel: turns.serves, limits: limits, rateLimiter: rateLimiter)
        projects = ProjectsController(teams: teams, library: configuration, limits: limits)
        specifications = SpecificationsController(teams: teams, library: configuration, versions: versions, limits: limits)
        sweeper = TurnSweeper(store: teams.store, turns: turns)
        sessions = SessionsController(
            teams: teams, library: configuration, versions: versions, router: router, turns: turns, limits: limits)
    }

    package static var eventTypes: [any EventPayload.Type] { AgentEvents.all }

    package var services: [any Service] { [sweeper] }

    package func addRoutes(to routes: FeatureRoutes, queues: any JobQueues) {
        let scoped = routes.requiring(.agents)
        agents.addRoutes(to: scoped)
        projects.addRoutes(to: scoped)
        specifications.addRoutes(to: scoped)
        sessions.addRoutes(to: scoped)
    }
}
