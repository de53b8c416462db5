import Foundation

/// How settings' values are read and shown, for every section's declarations.
package enum SettingValues {
    /// The text trimmed, or nil when nothing is left.
    package static func nonEmpty(_ text: String) -> String? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        return trimmed.isEmpty ? nil : trimmed
    }

    /// A URL as shown: a password in it is redacted.
    package static func withoutCredentials(_ url: URL) -> String {
        guard var parts = URLComponents(url: url, resolvingAgainstBaseURL: false), parts.password != nil else { return url.absoluteString }
        parts.password = "redacted"
        return parts.string ?? url.absoluteString
    }

    /// A secret kept in a file (a Docker or systemd credential, say); its trailing newline is not part of it.
    package static func secretFile(_ path: String) -> String? {
        guard let contents = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: contents, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// An http(s) URL with a host.
    package static func httpURL(_ text: String) -> URL? {
        URL(string: text).flatMap { ["http", "https"].contains($0.scheme) && $0.host != nil ? $0 : nil }
    }
}
