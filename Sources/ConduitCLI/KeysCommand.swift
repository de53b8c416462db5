import ArgumentParser
import ConduitCore
import ConduitEmbeddings
import Foundation
import Store

struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Create, list, revoke and rotate API keys.",
        subcommands: [Create.self, List.self, Revoke.self, Rotate.self, SetLimits.self])

    /// The team keys are created in when none is named.
    static let defaultTeam = "default"

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a key. Its secret is shown once, alone on the last line, and never again.")
        @OptionGroup var database: StoreOptions
        @Option(help: "A name that says what the key is for.") var name: String
        @Option(help: "Team id or name (default: the team 'default', created when missing).") var team: String?
        @Option(
            name: .customLong("scope"),
            help: ArgumentHelp("A scope the key gets; repeat for several (default: all but admin).", valueName: "scope"))
        var scopes: [String] = []
        @Option(help: "Days until the key expires (default: never).") var expiresInDays: Int?

        func validate() throws {
            do {
                _ = try APIKeyRules.name(name)
                _ = try APIKeyRules.scopes(scopes.isEmpty ? nil : scopes)
                _ = try APIKeyRules.expiry(inDays: expiresInDays)
            } catch {
                throw ValidationError(error.description)
            }
        }

        func run() async throws {
            let issued = try await database.withDatabase(logger: quietLogger()) { store in
                let owner: Team
                if let team {
                    owner = try await store.teams.require(team)
                } else {
                    owner = try await store.teams.ensure(named: KeysCommand.defaultTeam)
                }
                return try await store.keys.create(
                    name: try APIKeyRules.name(name), teamID: owner.id, scopes: try APIKeyRules.scopes(scopes.isEmpty ? nil : scopes),
                    expiresAt: try APIKeyRules.expiry(inDays: expiresInDays), apiVersion: APIVersions.current.latest)
            }
            describe(issued.key)
            print(issued.secret)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (prefixes only; secrets are never stored).")
        @OptionGroup var database: StoreOptions
        @Option(help: "Only this team's keys (id or name).") var team: String?

        func run() async throws {
            let keys = try await database.withDatabase(logger: quietLogger()) { store in
                var teamID: String?
                if let team { teamID = try await store.teams.require(team).id }
                return try await store.keys.list(teamID: teamID)
            }
            let now = StoreTime.now()
            printTable(
                ["ID", "NAME", "PREFIX", "SCOPES", "STATE", "LAST USED"],
                keys.map { key in
                    let state = key.revokedAt != nil ? "revoked" : key.isUsable(at: now) ? "active" : "expired"
                    return [
                        key.id, key.name, key.prefix + "…", key.scopes.sorted().map(\.rawValue).joined(separator: ","), state,
                        key.lastUsedAt.map(formatTime) ?? "never",
                    ]
                })
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key: it stops working at once.")
        @OptionGroup var database: StoreOptions
        @Argument(help: "The key's id (see `conduit keys list`).") var id: String

        func run() async throws {
            let key = try await database.withDatabase(logger: quietLogger()) { try await $0.keys.revoke(id: id, teamID: nil) }
            print("revoked \(key.id) (\(key.name), \(key.prefix)…)")
        }
    }

    struct SetLimits: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "limits", abstract: "Set a key's rate limits and monthly token budget (replacing the previous ones).")
        @OptionGroup var database: StoreOptions
        @Argument(help: "The key's id (see `conduit keys list`).") var id: String
        @OptionGroup var limits: LimitOptions

        func run() async throws {
            try await database.withDatabase(logger: quietLogger()) { try await $0.keys.setLimits(limits.limits, forKey: id) }
            print("key \(id): \(describe(limits.limits))")
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace a key with a new secret (same name, team and scopes) and revoke the old one.")
        @OptionGroup var database: StoreOptions
        @Argument(help: "The key's id (see `conduit keys list`).") var id: String

        func run() async throws {
            let issued = try await database.withDatabase(logger: quietLogger()) { try await $0.keys.rotate(id: id, teamID: nil) }
            describe(issued.key)
            print(issued.secret)
        }
    }
}

/// What a new key is, on standard error, so that standard output's last line is the secret alone.
private func describe(_ key: APIKey) {
    let scopes = key.scopes.sorted().map(\.rawValue).joined(separator: ",")
    let expiry = key.expiresAt.map { "expires \(formatTime($0))" } ?? "no expiry"
    FileHandle.standardError.write(
        Data("created key \(key.id) '\(key.name)' in team \(key.teamID), scopes \(scopes), \(expiry); the secret is shown once:\n".utf8))
}
