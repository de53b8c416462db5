import ArgumentParser
import ConduitEmbeddings
import Store

struct TeamsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "teams", abstract: "Create and list teams.", subcommands: [Create.self, List.self, SetLimits.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a team; prints its id.")
        @OptionGroup var database: StoreOptions
        @Argument(help: "The team's name, unique.") var name: String

        func run() async throws {
            let team = try await database.withDatabase(logger: quietLogger()) { try await $0.teams.create(name: name) }
            print(team.id)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List teams.")
        @OptionGroup var database: StoreOptions

        func run() async throws {
            let teams = try await database.withDatabase(logger: quietLogger()) { try await $0.teams.list() }
            printTable(["ID", "NAME", "CREATED", "LIMITS"], teams.map { [$0.id, $0.name, formatTime($0.createdAt), describe($0.limits)] })
        }
    }

    struct SetLimits: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "limits", abstract: "Set a team's rate limits and monthly token budget (replacing the previous ones).")
        @OptionGroup var database: StoreOptions
        @Argument(help: "Team id or name.") var team: String
        @OptionGroup var limits: LimitOptions

        func run() async throws {
            let id = try await database.withDatabase(logger: quietLogger()) { store in
                let id = try await store.teams.require(team).id
                try await store.teams.setLimits(limits.limits, forTeam: id)
                return id
            }
            print("team \(id): \(describe(limits.limits))")
        }
    }
}
