import ConduitCore
import HTTPTypes

/// Why a chat call was not served, as the client sees it. A provider's error body is never shown (it can
/// quote a key): the answer names the deployment, the provider's status and its error code.
enum ChatError: Error, APIErrorConvertible, CustomStringConvertible {
    case unknownModel(String)
    /// A model of the other kind: an embedding model asked for a chat completion, or the reverse.
    case wrongKind(String, GatewayModel.Kind)
    /// Longer than the context window of every deployment of the model and its fallbacks.
    case contextTooLong(tokens: Int)
    /// A provider refused the request itself (400, 413, 422): it would fail anywhere.
    case rejected(deployment: String, status: Int, code: String?)
    /// Every attempt failed; `failure` is the last one's.
    case failed(deployment: String, failure: AttemptFailure, attempts: Int, budgetSpent: Bool)
    /// No deployment could be called: every one open, resting or full.
    case unavailable(model: String, retryAfter: Duration?)

    var apiError: APIError {
        switch self {
        case .unknownModel(let model):
            return APIError(
                status: .notFound, message: "the model '\(model.bounded())' is not served here (GET /v1/models lists them)",
                param: "model", code: "model_not_found")
        case .wrongKind(let model, let kind):
            return .invalidRequest(
                "the model '\(model)' is \(kind == .chat ? "a chat model (POST /v1/chat/completions)" : "an embedding model (POST /v1/embeddings)")",
                param: "model", code: "wrong_model_kind")
        case .contextTooLong(let tokens):
            return .invalidRequest(
                "the request needs about \(tokens) tokens, more than the context window of the model and its fallbacks",
                param: "messages", code: "context_length_exceeded")
        case .rejected(let deployment, let status, let code):
            return .invalidRequest(
                "the deployment '\(deployment)' refused the request: it answered \(status)\(Self.describe(code))",
                code: "upstream_rejected_request")
        case .failed(let deployment, let failure, let attempts, let budgetSpent):
            let tries = attempts == 1 ? "1 attempt" : "\(attempts) attempts"
            let why = budgetSpent ? "; no retry: the retry budget is spent" : ""
            switch failure {
            case .timedOut:
                return upstream(
                    .gatewayTimeout, "the deployment '\(deployment)' did not answer in time (\(tries)\(why))", "upstream_timeout")
            case .status(429, let code, let retryAfter):
                var error = upstream(
                    .tooManyRequests,
                    "the deployment '\(deployment)' is rate limited: it answered 429\(Self.describe(code)) (\(tries)\(why))",
                    "upstream_rate_limited")
                error.headers[.retryAfter] = String(max(1, Int((retryAfter ?? .seconds(1)) / .seconds(1))))
                return error
            case .status(let status, let code, _):
                return upstream(
                    .badGateway, "the deployment '\(deployment)' answered \(status)\(Self.describe(code)) (\(tries)\(why))",
                    "upstream_error")
            case .unreachable:
                return upstream(.badGateway, "the deployment '\(deployment)' could not be reached (\(tries)\(why))", "upstream_unreachable")
            case .malformed(let what):
                return upstream(
                    .badGateway, "the deployment '\(deployment)' answered malformed: \(what) (\(tries)\(why))", "upstream_malformed")
            case .tooLarge(let limit):
                return upstream(
                    .badGateway, "the deployment '\(deployment)' answered more than \(limit) bytes (chat.max_response_bytes)",
                    "upstream_response_too_large")
            }
        case .unavailable(let model, let retryAfter):
            var error = upstream(
                .serviceUnavailable,
                "no deployment of '\(model)' or its fallbacks can take a call now: each failed repeatedly (circuit open), asked to wait, or is full",
                "upstream_unavailable")
            error.headers[.retryAfter] = String(max(1, Int((retryAfter ?? .seconds(1)) / .seconds(1))))
            return error
        }
    }

    /// What a job that made the call says of its failure.
    var description: String { apiError.message }

    private func upstream(_ status: HTTPResponse.Status, _ message: String, _ code: String) -> APIError {
        APIError(status: status, message: message, type: "upstream_error", code: code)
    }

    private static func describe(_ code: String?) -> String { code.map { " (\($0))" } ?? "" }
}
