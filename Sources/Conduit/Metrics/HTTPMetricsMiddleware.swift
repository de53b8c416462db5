import CoreMetrics
import HTTPTypes
import Hummingbird

/// Counts every answer and times it, by route template (`/v1/admin/keys/{id}`, never the path a
/// client sent: ids and unknown paths would make a series per request), method and status.
struct HTTPMetricsMiddleware: RouterMiddleware {
    typealias Context = ConduitRequestContext

    let factory: any MetricsFactory

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let dimensions = [
            ("route", context.endpointPath ?? "NotFound"), ("method", request.method.rawValue),
            ("status", String(response.status.code)),
        ]
        Counter(label: "conduit_http_requests_total", dimensions: dimensions, factory: factory).increment()
        Timer(label: "conduit_http_request_duration_seconds", dimensions: Array(dimensions.prefix(2)), factory: factory)
            .recordInterval(since: start)
        return response
    }
}
