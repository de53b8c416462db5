import ArgumentParser
import ConduitEmbeddings
import Foundation
import Store

struct UsersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users", abstract: "Create and list users (who log in at /v1/auth/login).", subcommands: [Create.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a user. The password is read from standard input (first line), never from the command line.")
        @OptionGroup var database: StoreOptions
        @Option(help: "The user's email, unique.") var email: String
        @Option(help: "Team id or name.") var team: String
        @Option(help: "owner, admin, member or viewer (default member).") var role: String = Role.member.rawValue

        func validate() throws {
            guard Role(rawValue: role) != nil else {
                throw ValidationError("role must be one of \(Role.allCases.map(\.rawValue).joined(separator: ", ")), got '\(role)'")
            }
        }

        func run() async throws {
            guard let password = readLine(strippingNewline: true), !password.isEmpty else {
                throw ValidationError("no password on standard input, as in: printf '%s\\n' \"$PASSWORD\" | conduit users create ...")
            }
            let user = try await database.withDatabase(logger: quietLogger()) { store in
                try await store.users.create(
                    email: email, password: password, role: Role(rawValue: role)!, teamID: try await store.teams.require(team).id)
            }
            print(user.id)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users.")
        @OptionGroup var database: StoreOptions
        @Option(help: "Only this team's users (id or name).") var team: String?

        func run() async throws {
            let users = try await database.withDatabase(logger: quietLogger()) { store in
                var teamID: String?
                if let team { teamID = try await store.teams.require(team).id }
                return try await store.users.list(teamID: teamID)
            }
            printTable(
                ["ID", "EMAIL", "ROLE", "TEAM", "CREATED"],
                users.map { [$0.id, $0.email, $0.role.rawValue, $0.teamID, formatTime($0.createdAt)] })
        }
    }
}
