import ArgumentParser

struct ConduitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conduit",
        abstract: "An AI inference gateway: local text embeddings behind an OpenAI-compatible API.",
        version: "0.1.0",
        subcommands: [
            ServeCommand.self, DownloadCommand.self, BenchCommand.self, MigrateCommand.self, TeamsCommand.self, UsersCommand.self,
            KeysCommand.self, JobsCommand.self, EventsCommand.self, WebhooksCommand.self, ConfigCommand.self, ReplayCommand.self,
            ChatCommand.self, InsightsCommand.self,
        ],
        defaultSubcommand: ServeCommand.self
    )
}
