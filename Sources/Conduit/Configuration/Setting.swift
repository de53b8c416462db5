import Foundation

/// One key of Conduit's configuration: its name in `conduit.yaml` (and so its environment variable),
/// what values it takes, how a value is applied to a `ServerConfiguration`, and how the applied value
/// reads back for `conduit config check`.
public struct Setting: Sendable {
    /// Dotted, snake_case: `server.port`. The environment variable is `CONDUIT_` and the key in upper
    /// case with `_` for `.`: `CONDUIT_SERVER_PORT`.
    public let key: String
    /// Whether the value is a list (a YAML sequence; comma-separated in the environment).
    public let isList: Bool
    /// What the key takes, as an error message says it.
    public let allowed: String
    /// Shown redacted, never logged.
    public let isSecret: Bool
    /// Takes effect on a reload (SIGHUP or a change of the file); the others need a restart.
    public let isReloadable: Bool
    /// Sets the value; false when the value is not allowed.
    let apply: @Sendable (_ values: [String], _ configuration: inout ServerConfiguration) -> Bool
    /// The value in effect, as text; nil when unset.
    let current: @Sendable (ServerConfiguration) -> String?
    /// Copies the setting from one configuration to another (a reload takes only what it may change).
    let copy: @Sendable (_ from: ServerConfiguration, _ to: inout ServerConfiguration) -> Void
    /// Whether a reload changes the setting, when its value as text does not tell (the files a folder holds).
    var differs: (@Sendable (_ old: ServerConfiguration, _ new: ServerConfiguration) -> Bool)? = nil

    func changes(from old: ServerConfiguration, to new: ServerConfiguration) -> Bool {
        differs?(old, new) ?? (current(old) != current(new))
    }

    public var environmentVariable: String {
        "CONDUIT_" + key.uppercased().replacingOccurrences(of: ".", with: "_")
    }
}

extension Setting {
    static func integer(
        _ key: String, _ range: ClosedRange<Int>, reloadable: Bool = false,
        _ path: any WritableKeyPath<ServerConfiguration, Int> & Sendable
    ) -> Setting {
        Setting(
            key: key, isList: false, allowed: "an integer from \(range.lowerBound) to \(range.upperBound)", isSecret: false,
            isReloadable: reloadable,
            apply: { values, configuration in
                guard let value = Int(values[0]), range.contains(value) else { return false }
                configuration[keyPath: path] = value
                return true
            },
            current: { "\($0[keyPath: path])" }, copy: { $1[keyPath: path] = $0[keyPath: path] })
    }

    /// A duration given in seconds, fractions allowed.
    static func seconds(
        _ key: String, reloadable: Bool = false, _ path: any WritableKeyPath<ServerConfiguration, Duration> & Sendable
    ) -> Setting {
        Setting(
            key: key, isList: false, allowed: "a number of seconds above 0 and at most 86400", isSecret: false,
            isReloadable: reloadable,
            apply: { values, configuration in
                guard let seconds = Double(values[0]), seconds > 0, seconds <= 86_400 else { return false }
                configuration[keyPath: path] = .milliseconds(Int((seconds * 1000).rounded()))
                return true
            },
            current: { "\($0[keyPath: path] / .seconds(1))" },
            copy: { $1[keyPath: path] = $0[keyPath: path] })
    }

    static func flag(_ key: String, reloadable: Bool = false, _ path: any WritableKeyPath<ServerConfiguration, Bool> & Sendable) -> Setting
    {
        Setting(
            key: key, isList: false, allowed: "true or false", isSecret: false, isReloadable: reloadable,
            apply: { values, configuration in
                switch values[0].lowercased() {
                case "true", "yes", "1", "on": configuration[keyPath: path] = true
                case "false", "no", "0", "off": configuration[keyPath: path] = false
                default: return false
                }
                return true
            },
            current: { "\($0[keyPath: path])" }, copy: { $1[keyPath: path] = $0[keyPath: path] })
    }

    /// Free text, with `parse` turning it into the setting (nil: not allowed).
    static func text<Value>(
        _ key: String, allowed: String, secret: Bool = false, reloadable: Bool = false,
        _ path: any WritableKeyPath<ServerConfiguration, Value> & Sendable,
        parse: @escaping @Sendable (String) -> Value?, show: @escaping @Sendable (Value) -> String?
    ) -> Setting {
        Setting(
            key: key, isList: false, allowed: allowed, isSecret: secret, isReloadable: reloadable,
            apply: { values, configuration in
                guard let value = parse(values[0]) else { return false }
                configuration[keyPath: path] = value
                return true
            },
            current: { show($0[keyPath: path]) }, copy: { $1[keyPath: path] = $0[keyPath: path] })
    }

    /// A list whose entries are `NAME=VALUE`; the last of a repeated name wins.
    static func keyedList<Value>(
        _ key: String, form: String, reloadable: Bool = false,
        _ path: any WritableKeyPath<ServerConfiguration, [String: Value]> & Sendable,
        parse: @escaping @Sendable (_ name: String, _ value: Substring) -> Value?, show: @escaping @Sendable (Value) -> String
    ) -> Setting {
        Setting(
            key: key, isList: true, allowed: "a list of \(form)", isSecret: false, isReloadable: reloadable,
            apply: { values, configuration in
                var result: [String: Value] = [:]
                for entry in values {
                    let parts = entry.split(separator: "=", maxSplits: 1)
                    guard parts.count == 2, !parts[0].isEmpty, let value = parse(String(parts[0]), parts[1]) else { return false }
                    result[String(parts[0])] = value
                }
                configuration[keyPath: path] = result
                return true
            },
            current: { configuration in
                configuration[keyPath: path].sorted { $0.key < $1.key }.map { "\($0.key)=\(show($0.value))" }.joined(separator: ",")
            }, copy: { $1[keyPath: path] = $0[keyPath: path] })
    }

    /// A list of plain entries, each checked by `isAllowed`.
    static func list(
        _ key: String, allowed: String, reloadable: Bool = false, _ path: any WritableKeyPath<ServerConfiguration, [String]> & Sendable,
        isAllowed: @escaping @Sendable (String) -> Bool
    ) -> Setting {
        Setting(
            key: key, isList: true, allowed: allowed, isSecret: false, isReloadable: reloadable,
            apply: { values, configuration in
                guard values.allSatisfy(isAllowed) else { return false }
                configuration[keyPath: path] = values
                return true
            },
            current: { $0[keyPath: path].joined(separator: ",") }, copy: { $1[keyPath: path] = $0[keyPath: path] })
    }
}
