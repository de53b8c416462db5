import Foundation
import Testing

/// scripts/check-layers, which CI runs: it passes on the repository, and fails on an arrow against
/// the declared direction or a target it does not know.
@Suite struct LayerCheckTests {
    static let repository = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func checkLayers(_ root: URL) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = Self.repository.appending(path: "scripts/check-layers")
        process.arguments = [root.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    @Test("the repository's imports follow the declared layers")
    func repositoryPasses() throws {
        let (status, output) = try checkLayers(Self.repository)
        #expect(status == 0, "\(output)")
    }

    @Test("an import against the arrows, or an undeclared target, fails the check and is named")
    func violationsFail() throws {
        let copy = FileManager.default.temporaryDirectory.appending(path: "layers-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: copy) }
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Self.repository.appending(path: "Sources"), to: copy.appending(path: "Sources"))
        let feature = copy.appending(path: "Sources/ConduitCore/Feature.swift")
        try (String(contentsOf: feature, encoding: .utf8) + "import ConduitInsights\n").write(
            to: feature, atomically: true, encoding: .utf8)
        let admin = copy.appending(path: "Sources/ConduitAdmin/AdminFeature.swift")
        try ("@testable import ModelRuntime\nimport struct ConduitEmbeddings.ModelCatalog\n" + String(contentsOf: admin, encoding: .utf8))
            .write(to: admin, atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(at: copy.appending(path: "Sources/Stray"), withIntermediateDirectories: true)

        let (status, output) = try checkLayers(copy)
        #expect(status == 1)
        #expect(output.contains("ConduitCore imports ConduitInsights"))
        #expect(output.contains("ConduitAdmin imports ModelRuntime"))
        #expect(output.contains("ConduitAdmin imports ConduitEmbeddings"), "a single declaration's import counts too")
        #expect(output.contains("Sources/Stray is not declared"))
    }
}
