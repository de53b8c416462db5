import ArgumentParser
import Conduit
import Foundation
import Logging

/// `--log-level` and `--log-format`, the same on every command that logs.
struct LogOptions: ParsableArguments {
    @Option(
        help: """
            Log level, for all subsystems or per subsystem: info,Store=debug,PostgresNIO=warning \
            (trace, debug, info, notice, warning, error, critical; env CONDUIT_LOG_LEVEL; default info).
            """)
    var logLevel: String?

    @Option(help: "Log lines as json, logfmt or text (env CONDUIT_LOG_FORMAT; default json for serve, text otherwise).")
    var logFormat: String?

    /// Sets up logging for the process and returns the command's logger.
    func makeLogger(defaultFormat: String = "text") throws -> Logger {
        let environment = ProcessInfo.processInfo.environment
        let levels: LogLevels
        do {
            levels = try LogLevels(parsing: logLevel ?? environment["CONDUIT_LOG_LEVEL"] ?? "info")
        } catch {
            throw ValidationError(error.description)
        }
        let format = logFormat ?? environment["CONDUIT_LOG_FORMAT"] ?? defaultFormat
        if format == "text" {
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = levels.defaultLevel
                return handler
            }
        } else if let structured = StructuredLogHandler.Format(rawValue: format) {
            LoggingSystem.bootstrap { label in StructuredLogHandler(label: label, format: structured, levels: levels) }
        } else {
            throw ValidationError("log format must be json, logfmt or text, got \(format)")
        }
        return Logger(label: "conduit")
    }
}
