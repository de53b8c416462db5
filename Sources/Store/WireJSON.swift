import Foundation

/// `value` as the API writes JSON (snake_case names, sorted keys): answers, the results of jobs, and the
/// payloads of events, which the API shows as they are.
public func wireJSON(_ value: some Encodable) throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    return try encoder.encode(value)
}
