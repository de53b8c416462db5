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

    struct SetRole: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-role", abstract: "Change a user's role; it applies to the user's next request.")
        @OptionGroup var database: StoreOptions
        @Option(help: "The user's email.") var email: String
        @Option(help: "The user's team (id or name), where the email has users in several teams.") var team: String?
        @Option(help: "owner, admin, member or viewer.") var role: String

        func validate() throws {
            guard Role(rawValue: role) != nil else {
                throw ValidationError("role must be one of \(Role.allCases.map(\.rawValue).joined(separator: ", ")), got '\(role)'")
            }
        }

        func run() async throws {
            let user = try await database.withDatabase(logger: quietLogger()) { store in
                let user = try await store.users.require(email: email, team: team)
                return try await store.users.setRole(Role(rawValue: role)!, ofUser: user.id, teamID: user.teamID)
            }
            print("\(user.email) is now \(user.role.rawValue)")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a user: its tokens stop working at once, and it can no longer log in.")
        @OptionGroup var database: StoreOptions
        @Option(help: "The user's email.") var email: String
        @Option(help: "The user's team (id or name), where the email has users in several teams.") var team: String?

        func run() async throws {
            let user = try await database.withDatabase(logger: quietLogger()) { store in
                let user = try await store.users.require(email: email, team: team)
                return try await store.users.delete(id: user.id, teamID: user.teamID)
            }
            print("deleted \(user.email)")
        }
    }
}

extension UsersRepository {
    /// The one user with this email (in `team` when given), or a usage error naming what is missing.
    fileprivate func require(email: String, team: String?) async throws -> User {
        let users = try await find(email: email, team: team)
        guard let user = users.first else { throw ValidationError("no user with the email '\(email)'") }
        guard users.count == 1 else { throw ValidationError("the email '\(email)' has users in several teams: name one with --team") }
        return user
    }
}
