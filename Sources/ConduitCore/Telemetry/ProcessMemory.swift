import Foundation

/// A process's memory as the kernel counts it, from /proc (Linux; nil elsewhere).
public enum ProcessMemory {
    /// The resident set now (VmRSS), or the most it has been (VmHWM, with `peak`), in bytes, of the
    /// process `pid` (by default this one).
    public static func residentBytes(of pid: Int32? = nil, peak: Bool = false) -> Int? {
        let path = "/proc/\(pid.map(String.init) ?? "self")/status"
        guard let status = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let key = peak ? "VmHWM:" : "VmRSS:"
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key) }),
            let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return nil }
        return kilobytes * 1024
    }
}
