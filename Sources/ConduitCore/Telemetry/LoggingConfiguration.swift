/// `logging.*`: how much is logged and in which format.
public struct LoggingConfiguration: Sendable, Equatable {
    /// Levels for all subsystems or per subsystem (`info,Store=debug`).
    public var level = "info"
    /// json, logfmt or text.
    public var format = "json"

    public init() {}

    package static let settings: [Setting<LoggingConfiguration>] = [
        .text(
            "logging.level", allowed: "a level, or levels per subsystem: info,Store=debug", reloadable: true, \.level,
            help: "one level, or one per subsystem: info,Store=debug,PostgresNIO=warning",
            parse: { (try? LogLevels(parsing: $0)) != nil ? $0 : nil }, show: { $0 }),
        .text(
            "logging.format", allowed: "json, logfmt or text", \.format, help: "log lines as json, logfmt or text",
            parse: { ["json", "logfmt", "text"].contains($0) ? $0 : nil }, show: { $0 }),
    ]
}
