import ServiceLifecycle
import Store

/// Keeps the store open while the server runs and closes it once everything that uses it has stopped.
struct DatabaseService: Service {
    let store: Database

    func run() async throws {
        try? await gracefulShutdown()
        await store.close()
    }
}
