import ArgumentParser
import ConduitCore
import Foundation
import Store

struct WebhooksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhooks", abstract: "The key that seals webhook signing secrets in the store.",
        discussion: """
            To start sealing, or to rotate the key: write a new key to a file (conduit webhooks new-key > FILE), make it
            webhooks.secrets_key_file and the previous one (if any) webhooks.previous_secrets_key_files, restart the nodes,
            then run conduit webhooks reseal with the same two settings; once it reports nothing left, drop the old key.
            """,
        subcommands: [NewKey.self, Reseal.self])

    struct NewKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "new-key", abstract: "Print a new key (32 random bytes in base64) for webhooks.secrets_key_file.")

        func run() {
            print(SecretSealer.newKeyFileText())
        }
    }

    struct Reseal: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Seal every webhook secret again under the current key (with none, open them back into clear); prints how many changed.")
        @OptionGroup var database: StoreOptions
        @Option(help: "The current key's file (env CONDUIT_WEBHOOKS_SECRETS_KEY_FILE).") var secretsKeyFile: String?
        @Option(help: "A previous key's file; repeat for several (env CONDUIT_WEBHOOKS_PREVIOUS_SECRETS_KEY_FILES, comma-separated).")
        var previousSecretsKeyFile: [String] = []

        func run() async throws {
            let environment = ProcessInfo.processInfo.environment
            let current = secretsKeyFile ?? environment["CONDUIT_WEBHOOKS_SECRETS_KEY_FILE"]
            let previous =
                previousSecretsKeyFile.isEmpty
                ? (environment["CONDUIT_WEBHOOKS_PREVIOUS_SECRETS_KEY_FILES"]?.split(separator: ",").map(String.init) ?? [])
                : previousSecretsKeyFile
            let texts = try ([current].compactMap { $0 } + previous).map { path in
                guard let text = SettingValues.secretFile(path) else { throw ValidationError("cannot read \(path)") }
                return text
            }
            guard
                let sealer = SecretSealer(
                    currentKeyText: current == nil ? nil : texts[0], previousKeyTexts: Array(texts.dropFirst(current == nil ? 0 : 1)))
            else { throw ValidationError("a key file does not hold a key (32 bytes in base64): write one with conduit webhooks new-key") }
            let changed = try await database.withDatabase(logger: quietLogger()) { store in
                store.secretSealer = sealer
                return try await store.webhooks.reseal()
            }
            print("\(changed) webhook\(changed == 1 ? "" : "s") sealed again")
        }
    }
}
