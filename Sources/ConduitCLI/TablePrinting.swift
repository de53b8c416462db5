import Foundation
import Logging
import Store

/// Columns padded to their widest cell, as `docker ps` and `kubectl get` print them.
func printTable(_ header: [String], _ rows: [[String]]) {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    for row in all {
        print(row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  "))
    }
}

func formatTime(_ stored: Int64) -> String {
    Date(timeIntervalSince1970: TimeInterval(StoreTime.seconds(stored))).formatted(.iso8601)
}

/// Administrative commands print their results; only warnings and errors go to the log.
func quietLogger() -> Logger {
    var logger = Logger(label: "conduit")
    logger.logLevel = .warning
    return logger
}
