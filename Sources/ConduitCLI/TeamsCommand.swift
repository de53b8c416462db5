import ArgumentParser
import Store

struct TeamsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "teams", abstract: "Create and list teams.", subcommands: [Create.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a team; prints its id.")
        @OptionGroup var database: StoreOptions
        @Argument(help: "The team's name, unique.") var name: String

        func run() async throws {
            let team = try await database.withDatabase(logger: quietLogger()) { try await $0.createTeam(name: name) }
            print(team.id)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List teams.")
        @OptionGroup var database: StoreOptions

        func run() async throws {
            let teams = try await database.withDatabase(logger: quietLogger()) { try await $0.teams() }
            printTable(["ID", "NAME", "CREATED"], teams.map { [$0.id, $0.name, formatTime($0.createdAt)] })
        }
    }
}
