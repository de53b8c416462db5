/// What a node changed of itself: its configuration, its model. The node serves every team, so each
/// team's log gets the event (`EventsRepository.recordForEveryTeam`), from each node that made the change.
public enum NodeEvents {
    public static let all: [any EventPayload.Type] = [ConfigurationReloaded.self, ModelReloaded.self]

    public struct ConfigurationReloaded: EventPayload {
        public static let type = "config.reloaded"
        public static let summary =
            "A node applied a new configuration (SIGHUP or a changed file): the settings it applied, and those that wait for a restart."
        public static let scope = Scope.admin
        public static let example = ConfigurationReloaded(
            node: "conduit-0", cause: "file changed", applied: ["limits.max_inputs"], needsRestart: ["server.port"])

        public var node: String
        public var cause: String
        /// The keys whose values changed (never the values: some are secrets).
        public var applied: [String]
        public var needsRestart: [String]

        public init(node: String, cause: String, applied: [String], needsRestart: [String]) {
            self.node = node
            self.cause = cause
            self.applied = applied
            self.needsRestart = needsRestart
        }

        public var resource: String? { "node:\(node)" }
    }

    public struct ModelReloaded: EventPayload {
        public static let type = "model.reloaded"
        public static let summary = "A node serves a model anew after a configuration change (another model, or new names for it)."
        public static let scope = Scope.embeddings
        public static let example = ModelReloaded(node: "conduit-0", model: "all-MiniLM-L6-v2", aliases: ["default"])

        public var node: String
        public var model: String
        public var aliases: [String]

        public init(node: String, model: String, aliases: [String]) {
            self.node = node
            self.model = model
            self.aliases = aliases
        }

        public var resource: String? { "model:\(model)" }
    }
}
