import ConduitCore
import Foundation

extension Setting where Root == ServerConfiguration {
    /// The value a key has when nothing sets it, as `conduit config check` shows it; nil when unset.
    public var defaultValue: String? { current(ServerConfiguration()) }

    /// The command line's help for the option that sets `key`: what it does, the key, its default.
    public static func optionHelp(_ key: String) -> String {
        guard let setting = named(key) else { preconditionFailure("no setting \(key)") }
        let help = setting.help.prefix(1).uppercased() + setting.help.dropFirst()
        let shown = setting.defaultValue.flatMap { $0.isEmpty ? nil : $0.replacingOccurrences(of: ",", with: ", ") }
        return "\(help) (\(key)\(shown.map { "; default \($0)" } ?? ""))."
    }

    /// Every key as a Markdown table: key, environment variable, default, whether a reload applies it,
    /// what it takes and what it does. docs/configuration.md is this table; a test keeps them equal.
    public static var markdownTable: String {
        var lines = [
            "| key | environment variable | default | reload | takes | what it does |",
            "|---|---|---|---|---|---|",
        ]
        for setting in all {
            let value = setting.isSecret ? "" : (setting.defaultValue ?? "").replacingOccurrences(of: ",", with: ", ")
            let cells = [
                "`\(setting.key)`", "`\(setting.environmentVariable)`", value.isEmpty ? "" : "`\(value)`",
                setting.isReloadable ? "yes" : "",
                setting.allowed, setting.help,
            ]
            lines.append("| " + cells.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// docs/configuration.md: every key, made from the settings themselves.
public enum ConfigurationDocument {
    public static var text: String {
        """
        # Configuration keys

        Every key Conduit reads, as `conduit config keys` prints it (this file is its output; a test keeps
        them equal). A key is set in the YAML file given by `--config`, by its environment variable, or, for
        the common ones, by an option of `conduit serve` (`conduit serve --help`); the command line wins
        over the environment, which wins over the file. Keys marked *reload* change on SIGHUP or when the
        file changes, without a restart. [conduit.example.yaml](../conduit.example.yaml) has them all,
        with their defaults.


        """ + ServerSetting.markdownTable
    }
}
