import Foundation
import Logging
import OTel
import Synchronization

/// Log lines for machines: one JSON object per line (or logfmt), with the time, level, subsystem,
/// message and every metadata field (request id, team, route, status, latency...) at the top level;
/// or, for people at a terminal, text: the time, level, subsystem and message, then the fields.
/// What a line may contain is decided where it is logged: no code path logs a key, token or password.
public struct StructuredLogHandler: LogHandler {
    public enum Format: String, Sendable, CaseIterable {
        case json, logfmt, text
    }

    public var metadata: Logger.Metadata = [:]
    /// Adds `trace_id` and `span_id` to lines logged inside a traced request, to go from a line to its trace.
    public var metadataProvider: Logger.MetadataProvider? = OTel.makeLoggingMetadataProvider()
    /// The least severe level any subsystem logs at now (`levels` then filters per subsystem), unless
    /// this logger was given a level of its own.
    public var logLevel: Logger.Level {
        get { ownLevel ?? levels.lowest }
        set { ownLevel = newValue }
    }
    private var ownLevel: Logger.Level?
    private let label: String
    private let format: Format
    private let levels: LiveLogLevels
    private let output: LogOutput

    /// `levels` may change later (a configuration reload): loggers made before follow.
    public init(label: String, format: Format, levels: LiveLogLevels, output: LogOutput = .standardError) {
        self.label = label
        self.format = format
        self.levels = levels
        self.output = output
    }

    public init(label: String, format: Format, levels: LogLevels, output: LogOutput = .standardError) {
        self.init(label: label, format: format, levels: LiveLogLevels(levels), output: output)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        guard event.level >= levels.current.level(for: event.source) else { return }
        var fields: [(String, String)] = [
            ("time", Self.timestamp()), ("level", event.level.rawValue), ("subsystem", event.source),
            ("message", "\(event.message)"),
        ]
        let provided = metadataProvider?.get() ?? [:]
        let merged = provided.merging(metadata) { $1 }.merging(event.metadata ?? [:]) { $1 }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            fields.append((key, "\(value)"))
        }
        if label != "conduit" { fields.append(("logger", label)) }
        switch format {
        case .json: output.write(Self.json(fields))
        case .logfmt: output.write(Self.logfmt(fields))
        case .text: output.write(Self.text(fields))
        }
    }

    /// `TIME LEVEL SUBSYSTEM: MESSAGE key=value...`
    package static func text(_ fields: [(String, String)]) -> String {
        let (time, level, subsystem, message) = (fields[0].1, fields[1].1, fields[2].1, fields[3].1)
        let rest = fields.dropFirst(4)
        return "\(time) \(level) \(subsystem): \(message)" + (rest.isEmpty ? "\n" : " " + logfmt(Array(rest)))
    }

    package static func json(_ fields: [(String, String)]) -> String {
        "{" + fields.map { "\(jsonString($0.0)):\(jsonString($0.1))" }.joined(separator: ",") + "}\n"
    }

    package static func logfmt(_ fields: [(String, String)]) -> String {
        fields.map { key, value in
            let needsQuotes = value.isEmpty || value.contains { $0 == " " || $0 == "=" || $0 == "\"" || $0.isNewline }
            return key + "=" + (needsQuotes ? jsonString(value) : value)
        }.joined(separator: " ") + "\n"
    }

    /// `text` as a JSON string literal: quotes, backslashes and control characters escaped.
    package static func jsonString(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20: result += String(format: "\\u%04x", scalar.value)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }

    private static func timestamp() -> String {
        Date.now.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }
}

/// Where log lines go: standard error, whole lines at a time from any thread.
public final class LogOutput: Sendable {
    public static let standardError = LogOutput { line in FileHandle.standardError.write(Data(line.utf8)) }

    private let lock = Mutex(())
    private let sink: @Sendable (String) -> Void

    public init(_ sink: @escaping @Sendable (String) -> Void) { self.sink = sink }

    package func write(_ line: String) { lock.withLock { _ in sink(line) } }
}

/// Log levels shared by every logger of the process, which a configuration reload can change.
public final class LiveLogLevels: Sendable {
    private let state: Mutex<(levels: LogLevels, lowest: Logger.Level)>

    public init(_ levels: LogLevels) { state = Mutex((levels, levels.lowest)) }

    public var current: LogLevels { state.withLock { $0.levels } }
    package var lowest: Logger.Level { state.withLock { $0.lowest } }

    public func set(_ levels: LogLevels) { state.withLock { $0 = (levels, levels.lowest) } }
}

/// A default log level and levels per subsystem (the module that logs: `Conduit`, `Store`,
/// `HummingbirdCore`, `PostgresNIO`...), written `info,Store=debug,PostgresNIO=warning`.
public struct LogLevels: Sendable, Equatable {
    public var defaultLevel: Logger.Level
    public var bySubsystem: [String: Logger.Level]

    public init(defaultLevel: Logger.Level = .info, bySubsystem: [String: Logger.Level] = [:]) {
        self.defaultLevel = defaultLevel
        self.bySubsystem = bySubsystem
    }

    /// Parses `LEVEL[,SUBSYSTEM=LEVEL...]`; the error names the part that is wrong and what is allowed.
    public init(parsing text: String) throws(ConfigurationError) {
        self.init()
        let allowed = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
        for part in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
            let pieces = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard let level = Logger.Level(rawValue: pieces.last!.lowercased()) else {
                throw ConfigurationError("log level '\(pieces.last!)' in '\(text)' is not one of \(allowed)")
            }
            if pieces.count == 2 { bySubsystem[pieces[0]] = level } else { defaultLevel = level }
        }
    }

    package func level(for subsystem: String) -> Logger.Level { bySubsystem[subsystem] ?? defaultLevel }

    package var lowest: Logger.Level { ([defaultLevel] + bySubsystem.values).min() ?? defaultLevel }
}
