import ArgumentParser
import ConduitEmbeddings
import Foundation
import Store

struct UsersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users", abstract: "Create, list, change and delete users (who log in at /v1/auth/login).",
        subcommands: [Create.self, List.self, SetRole.self, Delete.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a user. The password is read from standard input (first line), never from the command line.")
        @OptionGroup var database: StoreOptions
        @Option(help: "The user's email, unique within the team.") var email: String
        @Option(help: "Team id or name.") var team: String
        @Option(help: "The user's role.") var role: Role = .member

        func run() async throws {
            guard let password = readLine(strippingNewline: true), !password.isEmpty else {
                throw ValidationError("no password on standard input, as in: printf '%s\\n' \"$PASSWORD\" | conduit users create ...")
            }
            let user = try await database.withDatabase(logger: quietLogger()) { store in
                try await store.users.create(
                    email: email, password: password, role: role, teamID: try await store.teams.require(team).id)
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

    struct SetRole: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-role", abstract: "Change a user's role; it applies to the user's next request.")
        @OptionGroup var database: StoreOptions
        @OptionGroup var user: UserSelection
        @Option(help: "The user's new role.") var role: Role

        func run() async throws {
            let changed = try await database.withDatabase(logger: quietLogger()) { store in
                let found = try await user.find(in: store)
                return try await store.users.setRole(role, ofUser: found.id, teamID: found.teamID)
            }
            print("\(changed.email) is now \(changed.role.rawValue)")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a user: its tokens stop working at once, and it can no longer log in.")
        @OptionGroup var database: StoreOptions
        @OptionGroup var user: UserSelection

        func run() async throws {
            let deleted = try await database.withDatabase(logger: quietLogger()) { store in
                let found = try await user.find(in: store)
                return try await store.users.delete(id: found.id, teamID: found.teamID)
            }
            print("deleted \(deleted.email)")
        }
    }
}

/// Which user a command acts on: an email, and its team where the email has users in several.
struct UserSelection: ParsableArguments {
    @Option(help: "The user's email.") var email: String
    @Option(help: "The user's team (id or name), where the email has users in several teams.") var team: String?

    /// The one user selected, or a usage error naming what is missing.
    func find(in store: Database) async throws -> User {
        let users = try await store.users.find(email: email, team: team)
        guard let user = users.first else { throw ValidationError("no user with the email '\(email)'") }
        guard users.count == 1 else { throw ValidationError("the email '\(email)' has users in several teams: name one with --team") }
        return user
    }
}

extension Role: ExpressibleByArgument {}
