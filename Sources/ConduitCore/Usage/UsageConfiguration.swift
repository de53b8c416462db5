/// `usage.*`: what the usage report says a token costs.
public struct UsageConfiguration: Sendable, Equatable {
    /// US dollars per million tokens, by served model name, for the usage report's cost estimate.
    public var prices: [String: Double] = [:]

    public init() {}

    package static let settings: [Setting<UsageConfiguration>] = [
        .keyedList(
            "usage.prices", form: "MODEL=USD_PER_MILLION_TOKENS entries", reloadable: true, \.prices,
            help: "US dollars per million tokens by model, for the usage report's cost",
            parse: { _, text in Double(text).flatMap { $0 >= 0 && $0.isFinite ? $0 : nil } }, show: { "\($0)" })
    ]
}
