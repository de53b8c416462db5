import CoreMetrics
import HTTPTypes
import Hummingbird

/// Counts every answer and times it, by route template (`/v1/admin/keys/{id}`, never the path a
/// client sent: ids and unknown paths would make a series per request), method and status. On a
/// route with a latency objective, each answer is also a good event (not a server error, and within
/// the objective) or a bad one, the two counts an error budget is computed from.
package struct HTTPMetricsMiddleware: RouterMiddleware {
    package typealias Context = ConduitRequestContext

    package let factory: any MetricsFactory
    package let latencyObjectives: Live<[String: Duration]>

    package init(factory: any MetricsFactory, latencyObjectives: Live<[String: Duration]>) {
        self.factory = factory
        self.latencyObjectives = latencyObjectives
    }

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let elapsed = ContinuousClock.now - start
        let route = context.endpointPath ?? "NotFound"
        let dimensions = [("route", route), ("method", request.method.rawValue), ("status", String(response.status.code))]
        Counter(label: "conduit_http_requests_total", dimensions: dimensions, factory: factory).increment()
        Timer(label: "conduit_http_request_duration_seconds", dimensions: Array(dimensions.prefix(2)), factory: factory)
            .recordInterval(since: start, until: start + elapsed)
        if let objective = latencyObjectives.read({ $0[route] }) {
            let good = response.status.code < 500 && elapsed <= objective
            Counter(
                label: "conduit_slo_requests_total", dimensions: [("route", route), ("outcome", good ? "good" : "bad")], factory: factory
            )
            .increment()
        }
        return response
    }
}
