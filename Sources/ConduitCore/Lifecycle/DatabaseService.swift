import ServiceLifecycle
import Store

/// Keeps the store open while the server runs and closes it once everything that uses it has stopped.
package struct DatabaseService: Service {
    package let store: Database

    package init(store: Database) {
        self.store = store
    }

    package func run() async throws {
        try? await gracefulShutdown()
        await store.close()
    }
}
