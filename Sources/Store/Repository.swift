import SQLKit

/// The queries of one aggregate (jobs, keys, webhooks…) over the store's connection: `store.jobs.enqueue(…)`
/// rather than one type with every method. A repository is a view of its `Database`, made on each use.
protocol Repository: Sendable {
    var database: Database { get }
}

extension Repository {
    func read<Result: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> Result) async throws -> Result {
        try await database.read(body)
    }

    func transaction<Result: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> Result) async throws -> Result {
        try await database.transaction(body)
    }
}
