import Tracing

/// Carries a trace across a hop that is not an HTTP request (a job in the queue) as W3C
/// `traceparent` text: taken from the current context where the work is handed over, and made the
/// parent of the work's span where it is picked up.
package enum TraceContextCarrier {
    /// The current trace as a `traceparent`, when a trace is being recorded.
    package static func current() -> String? {
        var carrier: [String: String] = [:]
        InstrumentationSystem.instrument.inject(InstrumentationContext.current ?? .topLevel, into: &carrier, using: Injector())
        return carrier["traceparent"]
    }

    /// A context whose parent is the span `traceparent` names (a new trace when nil).
    package static func context(continuing traceparent: String?) -> InstrumentationContext {
        var context = InstrumentationContext.topLevel
        if let traceparent {
            InstrumentationSystem.instrument.extract(["traceparent": traceparent], into: &context, using: Extractor())
        }
        return context
    }

    private struct Injector: Tracing.Injector {
        func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
    }

    private struct Extractor: Tracing.Extractor {
        func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
    }
}
