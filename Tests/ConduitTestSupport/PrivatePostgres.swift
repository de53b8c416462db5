import Foundation

/// A PostgreSQL server of a test's own (`scripts/test-postgres`), for the tests that stop, freeze or
/// restart it: the shared server of the other tests must stay up.
public final class PrivatePostgres: Sendable {
    public let url: String
    private let directory: String

    private init(url: String, directory: String) {
        self.url = url
        self.directory = directory
    }

    /// Starts a server, runs `body` with it, and removes it whatever `body` does.
    public static func with<Result>(_ body: (PrivatePostgres) async throws -> Result) async throws -> Result {
        let assignments = try script(["start"])
        func value(_ name: String) throws -> String {
            guard let line = assignments.split(separator: "\n").first(where: { $0.hasPrefix(name + "=") }) else {
                throw SetupError("scripts/test-postgres start printed no \(name)")
            }
            return String(line.dropFirst(name.count + 1))
        }
        let server = PrivatePostgres(url: try value("CONDUIT_TEST_POSTGRES_URL"), directory: try value("CONDUIT_TEST_POSTGRES_DIR"))
        defer { _ = try? script(["stop", server.directory]) }
        return try await body(server)
    }

    /// Freezes every process of the server: connections stay open and nothing answers.
    public func pause() throws { try Self.script(["pause", directory]) }
    public func resume() throws { try Self.script(["resume", directory]) }
    /// A fast shutdown: sessions are told the server is going away, then new connections are refused.
    public func down() throws { try Self.script(["down", directory]) }
    public func up() throws { try Self.script(["up", directory]) }

    @discardableResult
    private static func script(_ arguments: [String]) throws -> String {
        // Into a file, not a pipe: the server started here, or one a parallel test starts meanwhile, may
        // inherit the pipe's write end and keep it open, and a read to its end would wait for good.
        let output = FileManager.default.temporaryDirectory.appending(path: "test-postgres-\(UUID().uuidString).out")
        guard FileManager.default.createFile(atPath: output.path, contents: nil) else { throw SetupError("cannot create \(output.path)") }
        defer { try? FileManager.default.removeItem(at: output) }
        let process = Process()
        process.executableURL = URL(filePath: "/bin/bash")
        process.arguments = ["scripts/test-postgres"] + arguments
        process.standardOutput = try FileHandle(forWritingTo: output)
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw SetupError("scripts/test-postgres \(arguments.joined(separator: " ")) exited with \(process.terminationStatus)")
        }
        let printed = try Data(contentsOf: output)
        return String(decoding: printed, as: UTF8.self)
    }
}
