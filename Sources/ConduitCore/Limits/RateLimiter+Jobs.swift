import Store

extension RateLimiter {
    /// The limits a job's work counts against: those of the key that submitted it and of its team, or its
    /// team's alone when no key did (a user, or Conduit itself) or the key is gone.
    package func identity(ofJob job: Job) async throws -> Identity {
        let teamLimits = try await store.teams.find(id: job.teamID)?.limits ?? .none
        var key: APIKey?
        if let keyID = job.keyID { key = try await store.keys.find(id: keyID, teamID: job.teamID) }
        return Identity(teamID: job.teamID, keyID: key?.id, keyLimits: key?.limits ?? .none, teamLimits: teamLimits)
    }

    /// Admits `tokens` of a job's work for `identity`, as no request of its own: a per-minute limit reached
    /// is waited out (the job slows to the limit instead of failing), in slices no larger than the smallest
    /// token limit. A monthly quota spent throws, failing the attempt until its retry. Returns what was
    /// counted, to refund if the work is not done.
    package func admitWork(_ identity: Identity, tokens: Int) async throws -> [Admission] {
        let slice = identity.rateWindows.compactMap(\.tokenLimit).min().map { Int($0) } ?? tokens
        var admitted: [Admission] = []
        var remaining = tokens
        do {
            while remaining > 0 {
                let part = min(remaining, max(1, slice))
                do {
                    admitted.append(try await admit(identity, tokens: part, requests: 0))
                    remaining -= part
                } catch LimitError.rateLimited(_, let retryAfter, _, _) {
                    try await Task.sleep(for: .seconds(retryAfter))
                }
            }
        } catch {
            for admission in admitted { await refund(admission) }
            throw error
        }
        return admitted
    }
}
