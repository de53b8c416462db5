import Foundation
import Synchronization

/// A progress bar on standard error for long work (a model download, a batch job): redrawn in place
/// at most ten times a second on a terminal, one line per tenth of the total otherwise (logs, CI).
public final class ProgressBar: Sendable {
    /// What is counted.
    public enum Unit: Sendable {
        case bytes
        /// Things, named in the plural: "texts".
        case items(String)
    }

    private struct State {
        var done = 0
        var lastDraw = ContinuousClock.now - .seconds(1)
        var lastDecile = -1
    }

    private let label: String
    private let unit: Unit
    private let started = ContinuousClock.now
    private let state = Mutex(State())
    private let total: Mutex<Int>
    private let isTerminal = isatty(STDERR_FILENO) != 0

    public init(label: String, total: Int, unit: Unit = .bytes) {
        self.label = label
        self.unit = unit
        self.total = Mutex(max(total, 1))
    }

    public func advance(by amount: Int) { update { $0 += amount } }

    /// Sets how much is done, and the total when it became known or changed.
    public func set(done: Int, total: Int? = nil) {
        if let total { self.total.withLock { $0 = max(total, 1) } }
        update { $0 = done }
    }

    private func update(_ change: (inout Int) -> Void) {
        let total = self.total.withLock { $0 }
        let line: String? = state.withLock { state in
            change(&state.done)
            let now = ContinuousClock.now
            if isTerminal {
                guard now - state.lastDraw >= .milliseconds(100) else { return nil }
                state.lastDraw = now
                return "\r" + describe(state.done, of: total)
            }
            let decile = state.done * 10 / total
            guard decile > state.lastDecile else { return nil }
            state.lastDecile = decile
            return describe(state.done, of: total) + "\n"
        }
        if let line { FileHandle.standardError.write(Data(line.utf8)) }
    }

    public func finish() {
        let done = state.withLock { $0.done }
        let total = self.total.withLock { $0 }
        FileHandle.standardError.write(Data(((isTerminal ? "\r" : "") + describe(done, of: total) + " done\n").utf8))
    }

    private func describe(_ done: Int, of total: Int) -> String {
        let fraction = min(1, Double(done) / Double(total))
        let width = 30
        let filled = Int(fraction * Double(width))
        let seconds = max((ContinuousClock.now - started) / .seconds(1), 0.001)
        let amounts: String =
            switch unit {
            case .bytes:
                "\(String(format: "%.1f", Double(done) / 1_048_576))/\(String(format: "%.1f", Double(total) / 1_048_576)) MB "
                    + "\(Int(fraction * 100))% \(String(format: "%.1f", Double(done) / 1_048_576 / seconds)) MB/s"
            case .items(let name):
                "\(done)/\(total) \(name) \(Int(fraction * 100))% \(String(format: "%.1f", Double(done) / seconds)) \(name)/s"
            }
        return "\(label) [\(String(repeating: "#", count: filled))\(String(repeating: ".", count: width - filled))] \(amounts)"
    }
}
