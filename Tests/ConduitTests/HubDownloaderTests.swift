import Conduit
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization
import Testing

@testable import ConduitCore
@testable import ConduitEmbeddings

/// The Hugging Face download path against a local server that plays the hub.
@Suite("Hugging Face hub download")
struct HubDownloaderTests {
    /// A fake repository: file path → bytes, and what the hub lists for each.
    struct Repository: Sendable {
        var files: [String: [UInt8]]
        /// Bytes actually served, when a test wants them to differ from the listing.
        var served: [String: [UInt8]] = [:]
        var lfs: Set<String> = ["model.safetensors"]

        func listing() throws -> ByteBuffer {
            let entries: [[String: Any]] = files.keys.sorted().map { path in
                let bytes = files[path]!
                var entry: [String: Any] = ["type": "file", "path": path, "size": bytes.count, "oid": gitBlobSHA1(bytes)]
                if lfs.contains(path) {
                    entry["lfs"] = ["oid": SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined(), "size": bytes.count]
                }
                return entry
            }
            return ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: entries))
        }

        func gitBlobSHA1(_ bytes: [UInt8]) -> String {
            var hash = Insecure.SHA1()
            hash.update(data: Data("blob \(bytes.count)\0".utf8))
            hash.update(data: bytes)
            return hash.finalize().map { String(format: "%02x", $0) }.joined()
        }
    }

    static func repository() -> Repository {
        // 3 MiB that look random, made eight bytes at a time: a system call per byte held a test thread for seconds.
        var state: UInt64 = .random(in: .min ... .max)
        let words = (0..<(3 << 17)).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state
        }
        let weights = words.withUnsafeBytes { Array($0) }
        return Repository(files: [
            "config.json": Array(#"{"model_type":"bert"}"#.utf8),
            "tokenizer.json": Array(#"{"model":{}}"#.utf8),
            "vocab.txt": Array("[PAD]\n[UNK]\n".utf8),
            "1_Pooling/config.json": Array(#"{"pooling_mode_mean_tokens":true}"#.utf8),
            "model.safetensors": weights,
            "onnx/model.onnx": Array(repeating: 1, count: 1000),
            "pytorch_model.bin": Array(repeating: 2, count: 1000),
        ])
    }

    /// Serves `repository` as `owner/model` and records every file request with its Range header.
    static func hub(_ repository: Repository, log: RequestLog) -> Application<RouterResponder<BasicRequestContext>> {
        let router = Router()
        router.get("/api/models/owner/model/tree/main") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: try repository.listing()))
        }
        router.get("/owner/model/resolve/main/**") { request, context in
            let path = context.parameters.getCatchAll().joined(separator: "/")
            let range = request.headers[.range]
            log.requests.withLock { $0.append((path, range)) }
            guard let bytes = repository.served[path] ?? repository.files[path] else { return Response(status: .notFound) }
            if let range, range.hasPrefix("bytes="), let start = Int(range.dropFirst(6).dropLast()), start < bytes.count {
                return Response(
                    status: .partialContent,
                    headers: [.contentRange: "bytes \(start)-\(bytes.count - 1)/\(bytes.count)"],
                    body: .init(byteBuffer: ByteBuffer(bytes: bytes[start...])))
            }
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    }

    static func store() -> ModelStore {
        ModelStore(dataDirectory: FileManager.default.temporaryDirectory.appending(path: "conduit-hub-\(UUID().uuidString)"))
    }

    static func downloader(port: Int, store: ModelStore) -> HubDownloader {
        HubDownloader(endpoint: URL(string: "http://127.0.0.1:\(port)")!, store: store, token: nil, logger: TestServer.logger)
    }

    @Test("downloads exactly the files a model needs, verified, into the model store")
    func download() async throws {
        let repository = Self.repository()
        let log = RequestLog()
        let store = Self.store()
        try await Self.hub(repository, log: log).test(.live) { client in
            let folder = try await Self.downloader(port: client.port!, store: store).download("owner/model")
            #expect(folder == store.folder(for: "owner/model"))
            for path in ["config.json", "tokenizer.json", "vocab.txt", "1_Pooling/config.json", "model.safetensors"] {
                #expect(try Array(Data(contentsOf: folder.appending(path: path))) == repository.files[path], "\(path)")
            }
            let requested = Set(log.requests.withLock { $0.map(\.path) })
            #expect(!requested.contains("onnx/model.onnx") && !requested.contains("pytorch_model.bin"))
            // A second call finds the model installed and asks the hub nothing.
            let before = log.requests.withLock { $0.count }
            _ = try await Self.downloader(port: client.port!, store: store).download("owner/model")
            #expect(log.requests.withLock { $0.count } == before)
        }
    }

    @Test("an interrupted download resumes with a Range request")
    func resume() async throws {
        let repository = Self.repository()
        let log = RequestLog()
        let store = Self.store()
        let downloader = Self.downloader(port: 0, store: store)
        let partial = downloader.partialFolder(for: "owner/model").appending(path: "model.safetensors.incomplete")
        try FileManager.default.createDirectory(at: partial.deletingLastPathComponent(), withIntermediateDirectories: true)
        let half = repository.files["model.safetensors"]!.count / 2
        try Data(repository.files["model.safetensors"]![..<half]).write(to: partial)
        try await Self.hub(repository, log: log).test(.live) { client in
            let folder = try await Self.downloader(port: client.port!, store: store).download("owner/model")
            #expect(try Array(Data(contentsOf: folder.appending(path: "model.safetensors"))) == repository.files["model.safetensors"])
            let weightRequests = log.requests.withLock { $0.filter { $0.path == "model.safetensors" } }
            #expect(weightRequests.count == 1)
            #expect(weightRequests.first?.range == "bytes=\(half)-")
        }
    }

    @Test("a file that fails its checksum is discarded and the model is not installed")
    func checksum() async throws {
        var repository = Self.repository()
        var corrupted = repository.files["model.safetensors"]!
        corrupted[1000] ^= 0xFF
        repository.served["model.safetensors"] = corrupted
        let log = RequestLog()
        let store = Self.store()
        try await Self.hub(repository, log: log).test(.live) { client in
            let downloader = Self.downloader(port: client.port!, store: store)
            await #expect(throws: ModelSourceError.self) { try await downloader.download("owner/model") }
            #expect(store.installed("owner/model") == nil)
            let leftover = downloader.partialFolder(for: "owner/model").appending(path: "model.safetensors.incomplete")
            #expect(!FileManager.default.fileExists(atPath: leftover.path))
        }
    }

    @Test("a repository without safetensors weights is refused, naming the missing file")
    func missingWeights() async throws {
        var repository = Self.repository()
        repository.files["model.safetensors"] = nil
        let log = RequestLog()
        try await Self.hub(repository, log: log).test(.live) { client in
            let error = await #expect(throws: ModelSourceError.self) {
                try await Self.downloader(port: client.port!, store: Self.store()).download("owner/model")
            }
            #expect(error?.description.contains("model.safetensors") == true)
        }
    }
}

/// Every file request the fake hub received, with its Range header.
final class RequestLog: Sendable {
    let requests = Mutex<[(path: String, range: String?)]>([])
}
