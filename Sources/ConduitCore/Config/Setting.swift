import Foundation

/// One key of Conduit's configuration: its name in `conduit.yaml` (and so its environment variable),
/// what values it takes and what it is for, how a value is applied to the section `Root` it belongs
/// to, and how the applied value reads back for `conduit config check`.
///
/// Each feature declares the settings of its own section once (`Setting<WebhooksConfiguration>`);
/// the composition root lifts them into the whole configuration with `scoped(_:)`. Their defaults are
/// the section's, read back from a section made with `init()`.
public struct Setting<Root>: Sendable {
    /// Dotted, snake_case: `server.port`. The environment variable is `CONDUIT_` and the key in upper
    /// case with `_` for `.`: `CONDUIT_SERVER_PORT`.
    public let key: String
    /// Whether the value is a list (a YAML sequence; comma-separated in the environment).
    public let isList: Bool
    /// What the key takes, as an error message says it.
    public let allowed: String
    /// What the setting does, for the documentation and the command line's help.
    public let help: String
    /// Shown redacted, never logged.
    public let isSecret: Bool
    /// Takes effect on a reload (SIGHUP or a change of the file); the others need a restart.
    public let isReloadable: Bool
    /// Sets the value; false when the value is not allowed.
    package let apply: @Sendable (_ values: [String], _ configuration: inout Root) -> Bool
    /// The value in effect, as text; nil when unset.
    package let current: @Sendable (Root) -> String?
    /// Copies the setting from one configuration to another (a reload takes only what it may change).
    package let copy: @Sendable (_ from: Root, _ to: inout Root) -> Void
    /// Whether a reload changes the setting, when its value as text does not tell (the files a folder holds).
    package let differs: (@Sendable (_ old: Root, _ new: Root) -> Bool)?

    package init(
        key: String, isList: Bool, allowed: String, help: String, isSecret: Bool = false, isReloadable: Bool,
        apply: @escaping @Sendable (_ values: [String], _ configuration: inout Root) -> Bool,
        current: @escaping @Sendable (Root) -> String?, copy: @escaping @Sendable (_ from: Root, _ to: inout Root) -> Void,
        differs: (@Sendable (_ old: Root, _ new: Root) -> Bool)? = nil
    ) {
        self.key = key
        self.isList = isList
        self.allowed = allowed
        self.help = help
        self.isSecret = isSecret
        self.isReloadable = isReloadable
        self.apply = apply
        self.current = current
        self.copy = copy
        self.differs = differs
    }

    package func changes(from old: Root, to new: Root) -> Bool {
        differs?(old, new) ?? (current(old) != current(new))
    }

    public var environmentVariable: String {
        "CONDUIT_" + key.uppercased().replacingOccurrences(of: ".", with: "_")
    }

    /// This setting as one of `Whole`'s, whose `section` holds `Root`.
    package func scoped<Whole>(_ section: any WritableKeyPath<Whole, Root> & Sendable) -> Setting<Whole> {
        let (apply, current, copy) = (self.apply, self.current, self.copy)
        var wholeDiffers: (@Sendable (Whole, Whole) -> Bool)?
        if let differs = self.differs {
            wholeDiffers = { old, new in differs(old[keyPath: section], new[keyPath: section]) }
        }
        return Setting<Whole>(
            key: key, isList: isList, allowed: allowed, help: help, isSecret: isSecret, isReloadable: isReloadable,
            apply: { (values: [String], whole: inout Whole) -> Bool in apply(values, &whole[keyPath: section]) },
            current: { (whole: Whole) -> String? in current(whole[keyPath: section]) },
            copy: { (from: Whole, to: inout Whole) in copy(from[keyPath: section], &to[keyPath: section]) },
            differs: wholeDiffers)
    }
}

extension Setting {
    package static func integer(
        _ key: String, _ range: ClosedRange<Int>, reloadable: Bool = false,
        _ path: any WritableKeyPath<Root, Int> & Sendable, help: String
    ) -> Setting {
        Setting(
            key: key, isList: false, allowed: "an integer from \(range.lowerBound) to \(range.upperBound)", help: help,
            isReloadable: reloadable,
            apply: { values, configuration in
                guard let value = Int(values[0]), range.contains(value) else { return false }
                configuration[keyPath: path] = value
                return true
            },
            current: { "\($0[keyPath: path])" }, copy: { $1[keyPath: path] = $0[keyPath: path] })
    }

    /// A duration given in seconds, fractions allowed.
    /// A whole number of seconds in `range`, 0 included where the range holds it (0 usually turns a thing off).
    package static func wholeSeconds(
        _ key: String, _ range: ClosedRange<Int>, reloadable: Bool = false, _ path: any WritableKeyPath<Root, Duration> & Sendable,
        help: String
    ) -> Setting {
        Setting(
            key: key, isList: false, allowed: "a whole number of seconds from \(range.lowerBound) to \(range.upperBound)", help: help,
            isReloadable: reloadable,
            apply: { values, configuration in
                guard let seconds = Int(values[0]), range.contains(seconds) else { return false }
                configuration[keyPath: path] = .seconds(seconds)
                return true
            },
            current: { "\($0[keyPath: path].components.seconds)" },
            copy: { $1[keyPath: path] = $0[keyPath: path] })
    }

    package static func seconds(
        _ key: String, reloadable: Bool = false, _ path: any WritableKeyPath<Root, Duration> & Sendable, help: String
    ) -> Setting {
        Setting(
            key: key, isList: false, allowed: "a number of seconds above 0 and at most 86400", help: help,
            isReloadable: reloadable,
            apply: { values, configuration in
                guard let seconds = Double(values[0]), seconds > 0, seconds <= 86_400 else { return false }
                configuration[keyPath: path] = .milliseconds(Int((seconds * 1000).rounded()))
                return true
            },
            current: { "\($0[keyPath: path] / .seconds(1))" },
            copy: { $1[keyPath: path] = $0[keyPath: path] })
    }

    package static func flag(
        _ key: String, reloadable: Bool = false, _ path: any WritableKeyPath<Root, Bool> & Sendable, help: String
    ) -> Setting {
        Setting(
            key: key, isList: false, allowed: "true or false", help: help, isReloadable: reloadable,
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
    package static func text<Value>(
        _ key: String, allowed: String, secret: Bool = false, reloadable: Bool = false,
        _ path: any WritableKeyPath<Root, Value> & Sendable, help: String,
        parse: @escaping @Sendable (String) -> Value?, show: @escaping @Sendable (Value) -> String?
    ) -> Setting {
        Setting(
            key: key, isList: false, allowed: allowed, help: help, isSecret: secret, isReloadable: reloadable,
            apply: { values, configuration in
                guard let value = parse(values[0]) else { return false }
                configuration[keyPath: path] = value
                return true
            },
            current: { show($0[keyPath: path]) }, copy: { $1[keyPath: path] = $0[keyPath: path] })
    }

    /// A list whose entries are `NAME=VALUE`; the last of a repeated name wins.
    package static func keyedList<Value>(
        _ key: String, form: String, reloadable: Bool = false,
        _ path: any WritableKeyPath<Root, [String: Value]> & Sendable, help: String,
        parse: @escaping @Sendable (_ name: String, _ value: Substring) -> Value?, show: @escaping @Sendable (Value) -> String
    ) -> Setting {
        Setting(
            key: key, isList: true, allowed: "a list of \(form)", help: help, isReloadable: reloadable,
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
    package static func list(
        _ key: String, allowed: String, reloadable: Bool = false, _ path: any WritableKeyPath<Root, [String]> & Sendable,
        help: String, isAllowed: @escaping @Sendable (String) -> Bool
    ) -> Setting {
        Setting(
            key: key, isList: true, allowed: allowed, help: help, isReloadable: reloadable,
            apply: { values, configuration in
                guard values.allSatisfy(isAllowed) else { return false }
                configuration[keyPath: path] = values
                return true
            },
            current: { $0[keyPath: path].joined(separator: ",") }, copy: { $1[keyPath: path] = $0[keyPath: path] })
    }
}
