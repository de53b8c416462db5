extension TracingConfiguration {
    /// `tracing.*`: where spans are exported (OpenTelemetry over HTTP), off by default.
    package static let settings: [Setting<TracingConfiguration>] = [
        .text(
            "tracing.otlp_endpoint", allowed: "an http(s) URL of an OTLP/HTTP collector (http://localhost:4318), or empty for no tracing",
            \.endpoint, help: "an OTLP/HTTP collector receiving a trace of every request (/v1/traces is added); off when empty",
            parse: { $0.isEmpty ? .some(nil) : TracingConfiguration.tracesEndpoint($0).map { .some($0) } },
            show: { $0.map(SettingValues.withoutCredentials) }),
        .text(
            "tracing.otlp_protocol", allowed: "http/protobuf or http/json", \.encoding, help: "how spans are sent",
            parse: { TracingConfiguration.Encoding(rawValue: $0) }, show: \.rawValue),
        .text(
            "tracing.sample_ratio", allowed: "a number from 0 to 1", \.sampleRatio,
            help: "share of new traces kept; a client's traceparent decides for its own",
            parse: { Double($0).flatMap { (0...1).contains($0) ? $0 : nil } }, show: { "\($0)" }),
        .text(
            "tracing.service_name", allowed: "a service name", \.serviceName, help: "the service.name of the spans",
            parse: SettingValues.nonEmpty, show: { $0 }),
    ]
}
