import ConduitCore
import Foundation

/// Where the agent platform's agents and domains are declared.
public struct AgentsConfiguration: Sendable, Equatable {
    /// A folder of agent files (`architect.yaml` declares `architect`); no agents when nil.
    public var agentsDirectory: URL?
    /// A folder of domain files (`fintech.yaml` declares `fintech`); only the built-in `base` when nil.
    public var domainsDirectory: URL?
    /// What was read from them; loaded with the configuration, and again on reload.
    package var library = AgentLibrary.empty

    public init() {}

    /// Reads both folders; errors name the file and key.
    package mutating func loadLibrary() throws {
        library = try AgentLibrary.load(agentsFolder: agentsDirectory, domainsFolder: domainsDirectory)
    }

    /// The setting's folders, for the reloader to watch.
    public var watchedFolders: [URL] { [agentsDirectory, domainsDirectory].compactMap { $0 } }
}

extension AgentsConfiguration {
    /// `agents.*`: where the agents and domains are declared.
    package static let settings: [Setting<AgentsConfiguration>] = [
        folder(
            "agents.dir", \.agentsDirectory,
            help: "a folder of agent files, NAME.yaml each (deploy/agents has 13); a bad file refuses the reload"),
        folder(
            "agents.domains_dir", \.domainsDirectory,
            help: "a folder of domain files, NAME.yaml each, extending one another (deploy/domains); a bad file refuses the reload"),
    ]

    private static func folder(
        _ key: String, _ path: any WritableKeyPath<AgentsConfiguration, URL?> & Sendable, help: String
    ) -> Setting<AgentsConfiguration> {
        Setting(
            key: key, isList: false, allowed: "a folder of YAML or JSON files, read at start and on every reload", help: help,
            isReloadable: true,
            apply: { values, agents in
                guard let folder = SettingValues.nonEmpty(values[0]) else { return false }
                agents[keyPath: path] = URL(filePath: folder)
                return true
            },
            current: { $0[keyPath: path]?.relativePath },
            // What was read from the folders goes with them, and a change to one of their files is a change.
            copy: { $1 = $0 }, differs: { $0 != $1 })
    }
}
