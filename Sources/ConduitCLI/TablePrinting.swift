import ConduitCore
import Foundation
import Logging
import Store

func printTable(_ header: [String], _ rows: [[String]]) { print(formattedTable(header, rows)) }

func formatTime(_ stored: Int64) -> String {
    Date(timeIntervalSince1970: TimeInterval(StoreTime.seconds(stored))).formatted(.iso8601)
}

/// Administrative commands print their results; only warnings and errors go to the log.
func quietLogger() -> Logger {
    var logger = Logger(label: "conduit")
    logger.logLevel = .warning
    return logger
}
