import ConduitCore
import ConduitEmbeddings
import Foundation
import Store
import Synchronization

/// The configuration in effect, which a reload may replace while requests run. Each request reads
/// the settings it needs once, at its start, so a request never sees half of two configurations.
public final class LiveConfiguration: Sendable {
    private let state: Mutex<(configuration: ServerConfiguration, version: Int)>

    public init(_ configuration: ServerConfiguration) {
        state = Mutex((configuration, 1))
    }

    public var current: ServerConfiguration { state.withLock { $0.configuration } }

    /// One part of the configuration in effect, without copying the rest (requests read their
    /// settings this way, several times each).
    public func read<Value>(_ part: (ServerConfiguration) -> Value) -> Value {
        state.withLock { part($0.configuration) }
    }

    /// The part of the configuration in effect that a component reads, and nothing else.
    public func view<Part: Sendable>(_ part: @escaping @Sendable (ServerConfiguration) -> Part) -> Live<Part> {
        Live { self.read(part) }
    }

    /// What `/v1/admin/debug` shows of the node.
    var node: Live<DebugController.Node> {
        Live {
            self.state.withLock { state in
                // `description` replaces a URL's password: credentials never leave the server.
                DebugController.Node(
                    database: state.configuration.databaseLocation.description, authentication: state.configuration.auth.enabled,
                    configurationVersion: state.version)
            }
        }
    }

    /// 1 at start, one more for each reload that changed a setting.
    public var version: Int { state.withLock { $0.version } }

    /// Takes the reloadable settings of `next`, keeping the rest, and tells which settings changed:
    /// `applied` took effect, `needRestart` did not.
    @discardableResult
    public func reload(from next: ServerConfiguration) -> (applied: [String], needRestart: [String]) {
        state.withLock { state in
            var updated = state.configuration
            var applied: [String] = []
            var needRestart: [String] = []
            for setting in ServerSetting.all where setting.changes(from: state.configuration, to: next) {
                if setting.isReloadable {
                    setting.copy(next, &updated)
                    applied.append(setting.key)
                } else {
                    needRestart.append(setting.key)
                }
            }
            if !applied.isEmpty {
                state.configuration = updated
                state.version += 1
            }
            return (applied, needRestart)
        }
    }
}

extension ServerConfiguration {
    /// Every setting with its value, as YAML that `conduit serve --config` reads back; secrets redacted.
    /// Keys are grouped by section, in the order the sections first appear.
    public var renderedYAML: String {
        let sections = ServerSetting.all.reduce(into: [String]()) { order, setting in
            let section = setting.key.contains(".") ? String(setting.key.prefix { $0 != "." }) : setting.key
            if !order.contains(section) { order.append(section) }
        }
        var lines: [String] = []
        for section in sections {
            let settings = ServerSetting.all.filter { $0.key == section || $0.key.hasPrefix(section + ".") }
            if settings.contains(where: { $0.key != section }) { lines.append("\(section):") }
            for setting in settings {
                let name = setting.key == section ? section : String(setting.key.dropFirst(section.count + 1))
                let indent = setting.key == section ? "" : "  "
                guard let value = setting.current(self) else {
                    lines.append("\(indent)# \(name): (not set)")
                    continue
                }
                if setting.isSecret {
                    lines.append("\(indent)\(name): \"<redacted>\"")
                } else if setting.isList {
                    let entries = value.isEmpty ? [] : value.split(separator: ",").map { yamlScalar(String($0)) }
                    lines.append("\(indent)\(name): [\(entries.joined(separator: ", "))]")
                } else {
                    lines.append("\(indent)\(name): \(yamlScalar(value))")
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// `text` bare where YAML reads it back as the same text, else double-quoted (JSON escapes are valid YAML).
private func yamlScalar(_ text: String) -> String {
    let plain = text.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "_./:@-+".unicodeScalars.contains($0) }
    if plain && !text.isEmpty && !text.hasPrefix("-") && !text.hasPrefix("@") { return text }
    let encoder = JSONEncoder()
    encoder.outputFormatting = .withoutEscapingSlashes
    let data = try? encoder.encode(text)
    return data.map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
}
