import ConduitCore

/// What the gateway reads of a request to route it, hold it against the caller's limits and describe
/// its attempts.
protocol RoutedRequest: Sendable {
    /// Checks a client's body; throws a 400 for what is wrong with it.
    init(_ fields: [String: JSONValue]) throws
    /// The model asked for, as the client named it.
    var model: String { get }
    /// An estimate of the prompt's tokens.
    var promptTokens: Int { get }
    /// Tokens held for the completion until the call is settled.
    var completionReservation: Int { get }
    /// Tokens the call may take in all, held against the deployments' context windows.
    var tokensNeeded: Int { get }
    /// The completion's bound, when the client set one.
    var maxTokens: Int? { get }
    /// The kind of model that serves it.
    static var kind: GatewayModel.Kind { get }
    /// OpenTelemetry's `gen_ai.operation.name`: `chat`, `embeddings`.
    static var operation: String { get }
}

extension RoutedRequest {
    /// The body's `model`, which every request names.
    static func requiredModel(in fields: [String: JSONValue]) throws -> String {
        guard case .string(let model)? = fields["model"], !model.isEmpty else {
            throw APIError.invalidRequest(
                "model is required: the name of a served model (GET /v1/models)", param: "model", code: "invalid_value")
        }
        return model
    }
}

extension ChatCompletionRequest: RoutedRequest {
    static var kind: GatewayModel.Kind { .chat }
    static var operation: String { "chat" }
    /// The client's bound, or `unboundedCompletionReservation` when it set none.
    var completionReservation: Int { maxTokens ?? ChatCompletionsController.unboundedCompletionReservation }
}
