import ConduitTestSupport
import Foundation
import NIOCore
import NIOPosix

/// Helpers for tests that run `conduit serve` as a process of its own.
enum LiveServer {
    /// The `conduit` executable, built beside the tests by `swift build --build-tests`.
    static var executable: URL? {
        let folder = URL(filePath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidate = folder.appending(path: "conduit")
        return FileManager.default.isExecutableFile(atPath: candidate.path) ? candidate : nil
    }

    /// Starts `conduit` with `arguments` and `environment` added to the test's; its standard error goes
    /// to `log` (created empty) or nowhere. The caller terminates it.
    static func start(_ arguments: [String], log: URL? = nil, environment: [String: String] = [:]) throws -> Process {
        guard let executable else { throw SetupError("conduit is built beside the test bundle by `swift build --build-tests`") }
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = FileHandle.nullDevice
        if let log {
            guard FileManager.default.createFile(atPath: log.path, contents: nil) else { throw SetupError("cannot create \(log.path)") }
            process.standardError = try FileHandle(forWritingTo: log)
        } else {
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
        return process
    }

    /// Whether the server on `port` answers /health/ready with 200 within a minute.
    static func isReady(port: Int) async -> Bool {
        let ready = try? await eventually(within: .seconds(60), every: .milliseconds(100)) {
            let answer = try? await RawHTTP.exchange(port: port, send: RawHTTP.request("GET", "/health/ready"), wait: .seconds(2))
            return answer?.bytes.hasPrefix("HTTP/1.1 200") == true
        }
        return ready == true
    }

    /// `count` distinct ports nothing listens on now (all held at once, so none is handed out twice).
    static func freePorts(_ count: Int) async throws -> [Int] {
        var sockets: [any Channel] = []
        for _ in 0..<count {
            sockets.append(try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get())
        }
        let ports = sockets.compactMap { $0.localAddress?.port }
        for socket in sockets { try await socket.close() }
        return ports
    }
}
