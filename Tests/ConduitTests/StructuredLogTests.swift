import Conduit
import Foundation
import Logging
import Synchronization
import Testing

@testable import ConduitCore

@Suite("Structured logs")
struct StructuredLogTests {
    /// A logger writing through the handler into memory, and the lines it wrote.
    private func capture(_ format: StructuredLogHandler.Format, levels: String) throws -> (Logger, @Sendable () -> [String]) {
        let lines = Mutex<[String]>([])
        let output = LogOutput { line in lines.withLock { $0.append(line) } }
        let levels = try LogLevels(parsing: levels)
        let logger = Logger(label: "conduit") { label in StructuredLogHandler(label: label, format: format, levels: levels, output: output)
        }
        return (logger, { lines.withLock { $0 } })
    }

    @Test("JSON lines carry time, level, subsystem, message and metadata, escaped; each is one line")
    func json() throws {
        var (logger, lines) = try capture(.json, levels: "info")
        logger[metadataKey: "request_id"] = "r-1"
        logger.info("request \"quoted\"\nnext", metadata: ["status": "200", "path": "/v1/embeddings"])
        logger.debug("not at info")
        let written = lines()
        #expect(written.count == 1 && written[0].hasSuffix("}\n") && written[0].filter { $0 == "\n" }.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(written[0].utf8)) as? [String: String])
        #expect(object["level"] == "info" && object["message"] == "request \"quoted\"\nnext")
        #expect(object["request_id"] == "r-1" && object["status"] == "200" && object["subsystem"] == "ConduitTests")
        #expect(object["time"].flatMap { try? Date($0, strategy: .iso8601) } != nil)
    }

    @Test("logfmt quotes what needs quoting; levels apply per subsystem")
    func logfmtAndLevels() throws {
        let (logger, lines) = try capture(.logfmt, levels: "warning,ConduitTests=debug")
        logger.debug("kept", metadata: ["path": "/a b"])
        logger.debug("dropped elsewhere", source: "Store")
        logger.error("kept too", source: "Store")
        let written = lines()
        #expect(written.count == 2)
        #expect(written[0].contains(#"message=kept path="/a b""#) && written[0].contains("level=debug"))
        #expect(written[1].contains("subsystem=Store"))
    }

    @Test("a bad level names itself and what is allowed")
    func badLevel() {
        #expect(throws: ConfigurationError.self) { try LogLevels(parsing: "info,Store=loud") }
        #expect(
            (try? LogLevels(parsing: "notice,PostgresNIO=error")) == LogLevels(defaultLevel: .notice, bySubsystem: ["PostgresNIO": .error]))
    }

    @Test("loggers made before a change of levels follow it; text lines read time, level, subsystem, message, then the fields")
    func liveLevelsAndText() throws {
        let lines = Mutex<[String]>([])
        let output = LogOutput { line in lines.withLock { $0.append(line) } }
        let levels = LiveLogLevels(try LogLevels(parsing: "info"))
        let logger = Logger(label: "conduit") { StructuredLogHandler(label: $0, format: .text, levels: levels, output: output) }
        logger.debug("before")
        levels.set(try LogLevels(parsing: "debug,Store=error"))
        logger.debug("after", metadata: ["status": "200"])
        logger.warning("not for Store", source: "Store")
        let written = lines.withLock { $0 }
        #expect(written.count == 1)
        #expect(written.first?.hasSuffix(" debug ConduitTests: after status=200\n") == true, "\(written)")
        #expect(written.first.flatMap { try? Date(String($0.prefix { $0 != " " }), strategy: .iso8601) } != nil)
    }
}
