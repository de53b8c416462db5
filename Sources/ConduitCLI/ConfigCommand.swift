import ArgumentParser
import Conduit
import Foundation

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Check the configuration, or list every key.",
        subcommands: [Check.self, Keys.self]
    )

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load and validate the configuration as `conduit serve` would, and print the settings in effect.",
            discussion: """
                Prints YAML that `conduit serve --config` reads back, with secrets redacted. Every problem is \\
                listed, each naming the key, the value and what is allowed; the exit status is then non-zero.
                """
        )

        @OptionGroup var settings: SettingOptions

        func run() async throws {
            let loaded = try await settings.load(try settings.source())
            for warning in loaded.warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
            print(loaded.configuration.renderedYAML, terminator: "")
        }
    }

    struct Keys: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print every configuration key as a Markdown table: its environment variable, default and what it does.",
            discussion: "docs/configuration.md is this table (conduit config keys > docs/configuration.md)."
        )

        func run() {
            print(ConfigurationDocument.text, terminator: "")
        }
    }
}
