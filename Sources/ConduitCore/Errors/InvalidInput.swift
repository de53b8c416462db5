import HTTPTypes

/// A request whose input breaks a rule of its route: what is wrong, the parameter, and a code a
/// client can act on. Features throw it for the rules of their own inputs; the API shows it as 400.
package struct InvalidInput: APIErrorConvertible, Equatable {
    package let message: String
    package let param: String?
    package let code: String

    package init(_ message: String, param: String? = nil, code: String) {
        self.message = message
        self.param = param
        self.code = code
    }

    package var apiError: APIError { .invalidRequest(message, param: param, code: code) }
}

/// A feature this node runs cannot take work because the node runs no workers for its queue
/// (`jobs.queues`): 503 `FEATURE_unavailable`, for a node that does.
package struct QueueNotServed: APIErrorConvertible, Equatable {
    package let queue: String
    package let feature: String

    package init(queue: String, feature: String) {
        self.queue = queue
        self.feature = feature
    }

    package var apiError: APIError {
        APIError(
            status: .serviceUnavailable, message: "this server runs no '\(queue)' queue (jobs.queues)", type: "server_error",
            code: "\(feature)_unavailable")
    }
}
