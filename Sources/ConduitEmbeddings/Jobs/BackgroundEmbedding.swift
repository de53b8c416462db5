extension EmbeddingScheduler {
    /// Vectors for a job's texts, at background priority (interactive requests go first). A full queue
    /// makes it wait and try again rather than fail the job's attempt, which would start it over.
    package func embedInBackground(_ sequences: [[Int32]]) async throws -> [[Float]] {
        while true {
            do {
                return try await reserved { try await embed(sequences, priority: .background) }
            } catch SchedulerError.overloaded {
                try await Task.sleep(for: .milliseconds(200))
            }
        }
    }
}
