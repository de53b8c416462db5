import ConduitCore
import HTTPTypes
import ModelRuntime

extension SchedulerError: APIErrorConvertible {
    public var apiError: APIError {
        switch self {
        case .overloaded(_, _, let retryAfter):
            APIError(
                status: .serviceUnavailable, message: "the server is at capacity; retry shortly",
                type: "server_error", code: "overloaded",
                headers: [.retryAfter: "\(max(1, Int((retryAfter / .seconds(1)).rounded(.up))))"])
        case .shuttingDown:
            APIError(
                status: .serviceUnavailable, message: "the server is shutting down", type: "server_error",
                code: "shutting_down", headers: [.retryAfter: "5"])
        case .deadlineExceeded:
            APIError(
                status: .serviceUnavailable, message: "the request waited longer than the request timeout and was dropped",
                type: "server_error", code: "timeout", headers: [.retryAfter: "1"])
        }
    }
}

extension ModelRuntimeError: APIErrorConvertible {
    public var apiError: APIError {
        switch self {
        case .tokenIDOutOfRange(let id, let size):
            .invalidRequest("token id \(id) is outside the model's vocabulary (0..<\(size))", param: "input", code: "invalid_token_id")
        case .sequenceTooLong(let length, let limit):
            .invalidRequest("input has \(length) tokens; the model takes at most \(limit)", param: "input", code: "input_too_long")
        default:
            APIError(status: .internalServerError, message: "model error", type: "server_error", code: "model_error")
        }
    }
}
