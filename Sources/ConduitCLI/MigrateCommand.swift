import ArgumentParser
import Store

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Create or upgrade the database schema (conduit serve also does this at start).")

    @OptionGroup var database: StoreOptions

    @OptionGroup var logging: LogOptions

    func run() async throws {
        let logger = try logging.makeLogger()
        let location = try database.location()
        let store = try await Database.open(location, logger: logger)
        do {
            let applied = try await store.migrate()
            let version = try await store.schemaVersion()
            await store.close()
            print(
                applied.isEmpty
                    ? "\(location): schema already at version \(version)"
                    : "\(location): applied \(applied.map(String.init).joined(separator: ", ")); schema at version \(version)")
        } catch {
            await store.close()
            throw error
        }
    }
}
