import ConduitTestSupport
import Foundation
import Store
import Testing

/// The `conduit` executable itself, built beside the tests.
@Suite("Command line")
struct CommandLineTests {
    static var executable: URL? {
        let folder = URL(filePath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidate = folder.appending(path: "conduit")
        return FileManager.default.isExecutableFile(atPath: candidate.path) ? candidate : nil
    }

    private func run(_ arguments: [String], input: String? = nil) throws -> (status: Int32, output: String, error: String) {
        let process = Process()
        process.executableURL = try #require(Self.executable, "conduit is built beside the test bundle by `swift build --build-tests`")
        process.arguments = arguments
        let output = Pipe()
        let error = Pipe()
        let stdin = Pipe()
        process.standardOutput = output
        process.standardError = error
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }

    @Test("keys create prints the key alone on its last line; it works against the same database; bad input exits non-zero")
    func keys() async throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "conduit-cli-\(UUID().uuidString)").path
        let created = try run(["keys", "create", "--name", "ci", "--data-dir", folder])
        #expect(created.status == 0)
        let secret = try #require(created.output.split(separator: "\n").last.map(String.init))
        #expect(APIKeySecret.isWellFormed(secret) && secret.hasPrefix("cdt_"))
        #expect(!created.error.contains(secret))

        let store = try await Database.open(.defaultSQLite(in: URL(filePath: folder)), logger: TestDatabase.logger)
        let key = try await store.apiKey(secret: secret)
        await store.close()
        #expect(key?.name == "ci" && key?.scopes == Scope.defaultScopes)

        let listed = try run(["keys", "list", "--data-dir", folder])
        #expect(listed.status == 0 && listed.output.contains(String(secret.prefix(12))) && !listed.output.contains(secret))
        #expect(try run(["keys", "create", "--name", "x", "--scope", "root", "--data-dir", folder]).status != 0)
        #expect(try run(["keys", "revoke", "no-such-id", "--data-dir", folder]).status != 0)

        let user = try run(["users", "create", "--email", "a@b.io", "--team", "default", "--data-dir", folder], input: "a-good-password\n")
        #expect(user.status == 0, "\(user.error)")
        #expect(try run(["migrate", "--data-dir", folder]).output.contains("schema already at version"))
    }
}
