import AsyncHTTPClient
import Conduit
import ConduitCore
import ConduitEmbeddings
import Foundation
import ModelRuntime
import NIOCore
import NIOHTTP1

/// `conduit serve` started as a child process on a free loopback port, for the HTTP benchmark.
final class ChildServer {
    let process = Process()
    let port: Int
    private let started = ContinuousClock.now
    var url: String { "http://127.0.0.1:\(port)" }

    init(modelDirectory: URL, precision: Precision) throws {
        port = Int.random(in: 20000..<40000)
        process.executableURL = URL(filePath: ProcessInfo.processInfo.arguments[0]).standardizedFileURL
        process.arguments = [
            "serve", "--port", "\(port)", "--model-dir", modelDirectory.path,
            "--served-model-name", DefaultModel.servedName, "--precision", precision.rawValue, "--log-level", "warning",
        ]
        try process.run()
    }

    /// Seconds from process start until `/health/ready` answers 200.
    func waitUntilReady() async throws -> Double {
        while ContinuousClock.now - started < .seconds(60) {
            guard process.isRunning else { throw BenchError("conduit serve exited with \(process.terminationStatus)") }
            if let response = try? await HTTPClient.shared.execute(HTTPClientRequest(url: url + "/health/ready"), timeout: .seconds(1)),
                response.status == .ok
            {
                return (ContinuousClock.now - started) / .seconds(1)
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw BenchError("conduit serve was not ready within 60 s")
    }

    /// VmRSS (now) or VmHWM (peak) of the server process, in MB.
    func residentMegabytes(peak: Bool) -> Double? {
        ProcessMemory.residentBytes(of: process.processIdentifier, peak: peak).map { Double($0) / 1_048_576 }
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
