import Foundation
import Synchronization

/// A progress bar on standard error for long downloads: redrawn in place at most ten times a
/// second on a terminal, one line per tenth of the total otherwise (logs, CI).
final class DownloadProgress: Sendable {
    private struct State {
        var done = 0
        var lastDraw = ContinuousClock.now - .seconds(1)
        var lastDecile = -1
    }

    private let label: String
    private let total: Int
    private let started = ContinuousClock.now
    private let state = Mutex(State())
    private let isTerminal = isatty(STDERR_FILENO) != 0

    init(label: String, total: Int) {
        self.label = label
        self.total = max(total, 1)
    }

    func advance(by bytes: Int) {
        let line: String? = state.withLock { state in
            state.done += bytes
            let now = ContinuousClock.now
            if isTerminal {
                guard now - state.lastDraw >= .milliseconds(100) else { return nil }
                state.lastDraw = now
                return "\r" + describe(state.done)
            }
            let decile = state.done * 10 / total
            guard decile > state.lastDecile else { return nil }
            state.lastDecile = decile
            return describe(state.done) + "\n"
        }
        if let line { FileHandle.standardError.write(Data(line.utf8)) }
    }

    func finish() {
        let done = state.withLock { $0.done }
        FileHandle.standardError.write(Data(((isTerminal ? "\r" : "") + describe(done) + " done\n").utf8))
    }

    private func describe(_ done: Int) -> String {
        let fraction = min(1, Double(done) / Double(total))
        let width = 30
        let filled = Int(fraction * Double(width))
        let seconds = max((ContinuousClock.now - started) / .seconds(1), 0.001)
        let megabytes = { (bytes: Int) in String(format: "%.1f", Double(bytes) / 1_048_576) }
        return "\(label) [\(String(repeating: "#", count: filled))\(String(repeating: ".", count: width - filled))] "
            + "\(megabytes(done))/\(megabytes(total)) MB \(Int(fraction * 100))% \(String(format: "%.1f", Double(done) / 1_048_576 / seconds)) MB/s"
    }
}
