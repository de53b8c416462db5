import Store

extension AgentSessionsRepository {
    /// What the router knows of the session: its active agent and the last answer.
    func facts(of session: AgentSession) async throws -> AgentRouter.SessionFacts {
        let last = try await turns(of: session.id, teamID: session.teamID, finishedOnly: true, limit: 1).last
        return AgentRouter.SessionFacts(activeAgent: session.activeAgent, lastAnswer: last?.output)
    }
}
