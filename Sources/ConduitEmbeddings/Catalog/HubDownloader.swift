import AsyncHTTPClient
import ConduitCore
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Store

/// Downloads a model from the Hugging Face hub (or a mirror) into the model store.
///
/// It lists the repository with `GET /api/models/{id}/tree/{revision}`, fetches only the files
/// a BERT sentence-embedding model needs from `/{id}/resolve/{revision}/{path}`, resumes a file
/// left incomplete by an earlier attempt with a `Range` request, and checks every file's size and
/// checksum (SHA-256 for LFS files, the git blob SHA-1 otherwise) before the model is installed.
/// `HF_TOKEN`, when set, is sent as a bearer token and never logged.
public struct HubDownloader: Sendable {
    public let endpoint: URL
    public let store: ModelStore
    public let revision: String
    package let token: String?
    package let logger: Logger
    package let httpClient: HTTPClient

    public init(
        endpoint: URL, store: ModelStore, revision: String = "main",
        token: String? = ProcessInfo.processInfo.environment["HF_TOKEN"],
        logger: Logger, httpClient: HTTPClient = .shared
    ) {
        self.endpoint = endpoint
        self.store = store
        self.revision = revision
        self.token = token
        self.logger = logger
        self.httpClient = httpClient
    }

    /// One file of the repository listing.
    package struct RemoteFile: Decodable, Equatable {
        package struct LFS: Decodable, Equatable {
            package var oid: String
            package var size: Int
        }
        package var type: String
        package var path: String
        package var size: Int
        package var oid: String
        package var lfs: LFS?
    }

    /// The model's folder, downloading it first unless already installed.
    public func download(_ modelID: String) async throws -> URL {
        if let installed = store.installed(modelID) { return installed }
        guard modelID.split(separator: "/").count == 2, !modelID.contains(".."), !modelID.hasPrefix("/") else {
            throw ModelSourceError.download("model id must look like owner/name, got \(modelID)")
        }
        let files = try await listFiles(modelID).filter { Self.isNeeded($0.path) }
        for required in ModelStore.requiredFiles where !files.contains(where: { $0.path == required }) {
            throw ModelSourceError.download(
                "\(modelID) has no \(required); only models with safetensors weights and a tokenizer.json can be served")
        }
        let staging = partialFolder(for: modelID)
        let total = files.reduce(0) { $0 + $1.size }
        logger.notice("downloading model", metadata: ["model": "\(modelID)", "files": "\(files.count)", "bytes": "\(total)"])
        let progress = ProgressBar(label: modelID, total: total)
        for file in files {
            try await fetch(file, of: modelID, into: staging, progress: progress)
        }
        progress.finish()
        return try store.install(staging, as: modelID)
    }

    /// Where an unfinished download of `modelID` is kept between attempts.
    public func partialFolder(for modelID: String) -> URL {
        store.root.appending(path: ".partial").appending(path: modelID.replacingOccurrences(of: "/", with: "--"))
    }

    /// Files a sentence-embedding model needs: configs, tokenizer, vocabulary and safetensors
    /// weights; not the ONNX, OpenVINO or PyTorch copies many repositories also carry.
    package static func isNeeded(_ path: String) -> Bool {
        if path.contains("..") || path.hasPrefix("/") { return false }
        if path == "model.safetensors" || path == "vocab.txt" { return true }
        return path.hasSuffix(".json") && !["onnx/", "openvino/"].contains { path.hasPrefix($0) }
    }

    private func listFiles(_ modelID: String) async throws -> [RemoteFile] {
        let url = endpoint.appending(path: "api/models/\(modelID)/tree/\(revision)").absoluteString + "?recursive=true"
        let response = try await httpClient.execute(request(url), timeout: .seconds(30))
        guard response.status == .ok else {
            throw ModelSourceError.download("listing \(modelID) failed: HTTP \(response.status.code)")
        }
        let body = try await response.body.collect(upTo: 16 << 20)
        do {
            return try JSONDecoder().decode([RemoteFile].self, from: Data(body.readableBytesView)).filter { $0.type == "file" }
        } catch {
            throw ModelSourceError.download("listing \(modelID) is not a file tree: \(error)")
        }
    }

    private func fetch(_ file: RemoteFile, of modelID: String, into staging: URL, progress: ProgressBar) async throws {
        let target = staging.appending(path: file.path)
        let incomplete = target.appendingPathExtension("incomplete")
        try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        if FileManager.default.fileExists(atPath: target.path), try verify(target, against: file) {
            progress.advance(by: file.size)
            return
        }
        var have = (try? FileManager.default.attributesOfItem(atPath: incomplete.path)[.size] as? Int) ?? 0
        if have > file.size { have = 0 }
        if !FileManager.default.fileExists(atPath: incomplete.path) || have == 0 {
            guard FileManager.default.createFile(atPath: incomplete.path, contents: nil) else {
                throw ModelSourceError.download("cannot create \(incomplete.path)")
            }
            have = 0
        }
        progress.advance(by: have)

        if have < file.size {
            var request = request(endpoint.appending(path: "\(modelID)/resolve/\(revision)/\(file.path)").absoluteString)
            if have > 0 { request.headers.add(name: "Range", value: "bytes=\(have)-") }
            let response = try await httpClient.execute(request, timeout: .minutes(30))
            let handle = try FileHandle(forWritingTo: incomplete)
            defer { try? handle.close() }
            switch response.status {
            case .partialContent where have > 0:
                try handle.seekToEnd()
            case .ok:
                // The server ignored the range: start the file again.
                try handle.truncate(atOffset: 0)
                progress.advance(by: -have)
            default:
                throw ModelSourceError.download("\(file.path): HTTP \(response.status.code)")
            }
            for try await chunk in response.body {
                try handle.write(contentsOf: chunk.readableBytesView)
                progress.advance(by: chunk.readableBytes)
            }
        }
        guard try verify(incomplete, against: file) else {
            try? FileManager.default.removeItem(at: incomplete)
            throw ModelSourceError.download(
                "\(file.path) failed its size or checksum check; the partial file was removed, retry to download it again")
        }
        try? FileManager.default.removeItem(at: target)
        try FileManager.default.moveItem(at: incomplete, to: target)
    }

    /// Whether `url` has the listed size and checksum.
    package func verify(_ url: URL, against file: RemoteFile) throws -> Bool {
        let size = (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? -1
        guard size == file.size else { return false }
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        if let lfs = file.lfs {
            var hash = SHA256()
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hash.update(data: chunk) }
            return hash.finalize().hexadecimal == lfs.oid.lowercased()
        }
        var hash = Insecure.SHA1()
        hash.update(data: Data("blob \(size)\0".utf8))
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hash.update(data: chunk) }
        return hash.finalize().hexadecimal == file.oid.lowercased()
    }

    private func request(_ url: String) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "User-Agent", value: "conduit")
        if let token, !token.isEmpty { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        return request
    }
}
