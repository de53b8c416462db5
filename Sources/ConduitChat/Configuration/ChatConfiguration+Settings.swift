import ConduitCore
import Foundation

extension ChatConfiguration {
    /// `chat.*`: the models file and how the gateway calls providers.
    package static let settings: [Setting<ChatConfiguration>] = [
        Setting(
            key: "chat.models_file", isList: false,
            allowed: "a YAML file of models and their deployments, read at start and on every reload",
            help: "the chat models served, each with its deployments (docs/chat.md); a bad file refuses the reload",
            isReloadable: true,
            apply: { values, chat in
                guard let path = SettingValues.nonEmpty(values[0]) else { return false }
                chat.modelsFile = URL(filePath: path)
                return true
            },
            current: { $0.modelsFile?.relativePath },
            // The models read from the file go with it, and a change to the file is a change.
            copy: { $1 = $0 }, differs: { $0 != $1 }),
        .integer(
            "chat.max_retries", 0...10, reloadable: true, \.maxRetries,
            help:
                "retries of a call at each model (its own, then each fallback's) after its first attempt there (connect errors, 408, 429, 5xx)"
        ),
        .integer(
            "chat.retry_budget_percent", 0...100, reloadable: true, \.retryBudgetPercent,
            help: "retries in flight may be at most this share of the calls in flight"),
        .integer(
            "chat.min_retries_in_flight", 0...10_000, reloadable: true, \.minimumRetriesInFlight,
            help: "retries always allowed in flight, whatever the share"),
        .seconds("chat.backoff_seconds", reloadable: true, \.backoff, help: "the first retry's wait (with jitter); doubles each time"),
        .seconds("chat.max_backoff_seconds", reloadable: true, \.maximumBackoff, help: "longest wait before a retry"),
        .seconds(
            "chat.total_timeout_seconds", reloadable: true, \.totalTimeout,
            help: "longest a call may take, retries, fallbacks and a streamed answer included"),
        .integer(
            "chat.circuit_failures", 1...1000, reloadable: true, \.circuitFailures,
            help: "failed attempts in a row that open a deployment's circuit"),
        .seconds(
            "chat.circuit_cooldown_seconds", reloadable: true, \.circuitCooldown,
            help: "how long an open deployment is skipped before one trial call decides"),
        .wholeSeconds(
            "chat.cache_ttl_seconds", 0...31_536_000, reloadable: true, \.cacheTTL,
            help:
                "how long an answer to a deterministic request (temperature 0, or a seed; not a stream) is reused, per team; 0 reuses none"),
        Setting(
            key: "chat.budget_alert_percents", isList: true, allowed: "a list of whole percentages from 1 to 100",
            help:
                "shares of a key's or team's monthly budget (limits monthly_budget_usd) whose crossing is announced once a month as the event budget.threshold_crossed",
            isReloadable: true,
            apply: { values, chat in
                let percents = values.compactMap { Int($0) }
                guard percents.count == values.count, percents.allSatisfy({ (1...100).contains($0) }) else { return false }
                chat.budgetAlertPercents = percents.sorted()
                return true
            },
            current: { $0.budgetAlertPercents.map(String.init).joined(separator: ",") },
            copy: { $1.budgetAlertPercents = $0.budgetAlertPercents }),
        .integer(
            "chat.max_response_bytes", 1024...1_073_741_824, reloadable: true, \.maxResponseBytes,
            help: "largest answer read from a provider when not streaming; 502 beyond"),
    ]
}
