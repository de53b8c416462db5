/// A setting in effect, which a configuration reload may change while requests run.
///
/// The composition root holds the whole configuration; a component gets a `Live` view of just the
/// settings it reads, so that it knows nothing of the rest (a feature never sees another's section):
///
/// ```swift
/// let limiter = BodyLimitMiddleware(limits: live.view(\.limits))
/// ```
///
/// A request reads each setting once, at its start, so it never acts on half of two configurations.
public struct Live<Value: Sendable>: Sendable {
    private let read: @Sendable () -> Value

    public init(_ read: @escaping @Sendable () -> Value) { self.read = read }

    /// A setting that never changes (for tests and settings read once at start).
    public static func constant(_ value: Value) -> Live { Live { value } }

    public var current: Value { read() }

    public func read<Part>(_ part: (Value) -> Part) -> Part { part(read()) }

    /// A view of one part of this setting.
    public func view<Part>(_ part: @escaping @Sendable (Value) -> Part) -> Live<Part> {
        let read = self.read
        return Live<Part> { part(read()) }
    }
}
