import ArgumentParser
import Conduit
import ConduitCore
import Foundation
import Logging

/// `--log-level` and `--log-format`, the same on every command that logs.
struct LogOptions: ParsableArguments {
    @Option(
        help: """
            Log level, for all subsystems or per subsystem: info,Store=debug,PostgresNIO=warning \
            (trace, debug, info, notice, warning, error, critical; env CONDUIT_LOGGING_LEVEL; default info).
            """)
    var logLevel: String?

    @Option(help: "Log lines as json, logfmt or text (env CONDUIT_LOGGING_FORMAT; default text).")
    var logFormat: String?

    /// Sets up logging for the process and returns the command's logger.
    func makeLogger(defaultFormat: String = "text") throws -> Logger {
        let environment = ProcessInfo.processInfo.environment
        return try bootstrapLogging(
            level: logLevel ?? environment["CONDUIT_LOGGING_LEVEL"] ?? "info",
            format: logFormat ?? environment["CONDUIT_LOGGING_FORMAT"] ?? defaultFormat
        ).logger
    }
}

/// Sets up logging for the process: `level` for all subsystems or per subsystem (info,Store=debug),
/// `format` json, logfmt or text. Returns the command's logger and the levels, which a reload may change.
@discardableResult
func bootstrapLogging(level: String, format text: String) throws -> (logger: Logger, levels: LiveLogLevels) {
    let levels: LogLevels
    do {
        levels = try LogLevels(parsing: level)
    } catch {
        throw ValidationError(error.description)
    }
    guard let format = StructuredLogHandler.Format(rawValue: text) else {
        throw ValidationError("log format must be json, logfmt or text, got \(text)")
    }
    let live = LiveLogLevels(levels)
    LoggingSystem.bootstrap { label in StructuredLogHandler(label: label, format: format, levels: live) }
    return (Logger(label: "conduit"), live)
}
