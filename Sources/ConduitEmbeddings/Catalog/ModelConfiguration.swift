import ConduitCore
import Foundation
import ModelRuntime

/// `model.*`: which model the node serves and the names clients call it by.
public struct ModelConfiguration: Sendable, Equatable {
    /// Serve the model in this folder; when nil, `id` is used, else the default model.
    public var directory: URL?
    /// A Hugging Face model id, downloaded into the data folder's model store when not there yet.
    public var id: String?
    /// Base URL of the Hugging Face hub (or a mirror).
    public var hubEndpoint = URL(string: "https://huggingface.co")!
    /// The name clients use for the model; by default the last part of its id or folder name.
    public var servedName: String?
    /// Other names accepted for the model.
    public var aliases: [String] = []
    /// How the dense layers compute: fp32, exact to the reference, or int8, faster at a small cost in fidelity.
    public var precision = Precision.fp32

    public init(directory: URL? = nil) {
        self.directory = directory
    }

    package static let settings: [Setting<ModelConfiguration>] = [
        .text(
            "model.dir", allowed: "a folder in Hugging Face layout", reloadable: true, \.directory,
            help: "serve the model in this folder", parse: { SettingValues.nonEmpty($0).map { URL(filePath: $0) } },
            show: { $0?.relativePath }),
        .text(
            "model.id", allowed: "a Hugging Face model id, owner/name", reloadable: true, \.id,
            help: "or a Hugging Face model id, downloaded into data_dir on first use", parse: SettingValues.nonEmpty, show: { $0 }),
        .text(
            "model.hub_endpoint", allowed: "an http(s) URL", reloadable: true, \.hubEndpoint,
            help: "the Hugging Face hub, or a mirror", parse: SettingValues.httpURL, show: \.absoluteString),
        .text(
            "model.served_name", allowed: "a model name", reloadable: true, \.servedName,
            help: "the name clients send; default: the model's folder or id name", parse: SettingValues.nonEmpty, show: { $0 }),
        .list(
            "model.aliases", allowed: "a list of model names", reloadable: true, \.aliases, help: "other names accepted",
            isAllowed: { !$0.isEmpty }),
        .text(
            "model.precision", allowed: "fp32 or int8", reloadable: true, \.precision,
            help:
                "int8: the dense layers' weights and inputs quantised to bytes in groups of 64, faster, cosine ≥ 0.995 to fp32 (0.9986 on average)",
            parse: { Precision(rawValue: $0.lowercased()) }, show: \.rawValue),
    ]
}
