import Foundation
import Logging
import OTel
import ServiceLifecycle
import Tracing

/// Where spans go: an OpenTelemetry collector's OTLP/HTTP endpoint. Off unless an endpoint is set.
public struct TracingConfiguration: Sendable, Equatable {
    public enum Encoding: String, Sendable, CaseIterable {
        case protobuf = "http/protobuf"
        case json = "http/json"
    }

    /// The collector's traces endpoint; a URL with no path gets OTLP's `/v1/traces`. Nil: no tracing.
    public var endpoint: URL?
    public var encoding: Encoding = .protobuf
    /// Share of traces started here that are kept; a request that arrives with a `traceparent`
    /// follows its caller's sampling decision.
    public var sampleRatio = 1.0
    /// `service.name` of every span.
    public var serviceName = "conduit"

    public init() {}

    /// OTLP's signal path is added to a bare collector address, as the OpenTelemetry SDKs do with
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`.
    package static func tracesEndpoint(_ text: String) -> URL? {
        guard let url = URL(string: text), ["http", "https"].contains(url.scheme), url.host() != nil else { return nil }
        return url.path().isEmpty || url.path() == "/" ? url.appending(path: "v1/traces") : url
    }

    /// The tracer these settings describe and the service that exports its spans (run it beside the
    /// server, and stop it after, so the last spans are sent); nil when tracing is off. The
    /// OpenTelemetry SDK's `OTEL_*` environment variables override these settings, as operators expect.
    public func makeTracer(logger: Logger) throws -> (tracer: any Tracer, exporter: any Service)? {
        guard let endpoint else { return nil }
        var configuration = OTel.Configuration.default
        configuration.serviceName = serviceName
        configuration.diagnosticLogger = .custom(logger)
        configuration.metrics.enabled = false
        configuration.logs.enabled = false
        configuration.propagators = [.traceContext]
        configuration.traces.otlpExporter.endpoint = endpoint.absoluteString
        configuration.traces.otlpExporter.protocol = encoding == .json ? .httpJSON : .httpProtobuf
        configuration.traces.sampler = .parentBasedTraceIDRatio(ratio: sampleRatio) ?? .parentBasedAlwaysOn
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        return (backend.factory, backend.service)
    }
}
