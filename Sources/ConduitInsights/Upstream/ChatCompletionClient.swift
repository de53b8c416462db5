import AsyncHTTPClient
import ConduitChat
import ConduitCore
import CoreMetrics
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Calls the upstream's `/chat/completions` through the traced ``OutboundHTTPClient``, behind a
/// circuit breaker (`upstream.circuit_failures`, `upstream.circuit_cooldown_seconds`).
public final class ChatCompletionClient: Sendable {
    private let http: HTTPClient
    private let upstream: Live<UpstreamConfiguration>
    package let circuit: CircuitBreaker

    public init(http: OutboundHTTPClient, upstream: Live<UpstreamConfiguration>, metricsFactory: any MetricsFactory = MetricsSystem.factory)
    {
        circuit = CircuitBreaker(gauge: Gauge(label: "conduit_upstream_circuit_state", factory: metricsFactory))
        self.http = http.http
        self.upstream = upstream
    }

    package struct Completion: Sendable {
        package var content: String
        package var promptTokens: Int
        package var completionTokens: Int
    }

    /// Sends `body` and returns the first choice's message.
    package func complete(_ body: ChatCompletionRequest) async throws -> Completion {
        let upstream = self.upstream.current
        guard let url = upstream.chatCompletionsURL else { throw UpstreamError.notConfigured }
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let key = upstream.apiKey { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(body)))
        let isTrial: Bool
        switch circuit.admit(cooldown: upstream.circuitCooldown) {
        case .refused(let retryAfter): throw UpstreamError.circuitOpen(retryAfter: retryAfter)
        case .admitted(let trial): isTrial = trial
        }
        do {
            let completion = try await send(request, timeout: upstream.timeout)
            circuit.record(failed: false, failures: upstream.circuitFailures, isTrial: isTrial)
            return completion
        } catch let error as UpstreamError {
            circuit.record(failed: error.isUpstreamFailure, failures: upstream.circuitFailures, isTrial: isTrial)
            throw error
        } catch {
            circuit.release(isTrial: isTrial)
            throw error
        }
    }

    private func send(_ request: HTTPClientRequest, timeout: Duration) async throws -> Completion {
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await http.execute(request, timeout: TimeAmount(timeout))
            bytes = try await response.body.collect(upTo: 16 << 20)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw UpstreamError.timedOut(timeout)
        } catch let error as UpstreamError {
            throw error
        } catch {
            throw UpstreamError.unreachable("\(error)")
        }
        guard response.status == .ok else {
            // The body may quote the operator's key (a 401 shows part of it) and the error is shown to the
            // team that owns the job: only the provider's error code goes on.
            let code = (try? JSONDecoder().decode(ProviderErrorBody.self, from: Data(bytes.readableBytesView)))?.error?.code
            throw UpstreamError.status(Int(response.status.code), code.map { String($0.prefix(64)) })
        }
        guard let answer = try? JSONDecoder().decode(ChatCompletionAnswer.self, from: Data(bytes.readableBytesView)),
            let content = answer.choices.first?.message?.content
        else { throw UpstreamError.malformed("no choices[0].message.content in the answer") }
        return Completion(
            content: content, promptTokens: answer.usage?.promptTokens ?? 0, completionTokens: answer.usage?.completionTokens ?? 0)
    }
}

/// Why an upstream call failed; the job that made it is retried after its backoff.
package enum UpstreamError: Error, CustomStringConvertible, Equatable {
    case notConfigured
    case unreachable(String)
    case timedOut(Duration)
    /// The upstream's status and, when it gave one, its error code (`invalid_api_key`, `rate_limit_exceeded`).
    case status(Int, String?)
    case malformed(String)
    /// The circuit is open after repeated failures; the next trial is in `retryAfter`.
    case circuitOpen(retryAfter: Duration)

    /// Whether the upstream is at fault (the circuit counts these), not the request it was sent.
    package var isUpstreamFailure: Bool {
        switch self {
        case .unreachable, .timedOut, .malformed: true
        case .status(let status, _): status == 429 || status >= 500
        case .notConfigured, .circuitOpen: false
        }
    }

    package var description: String {
        switch self {
        case .notConfigured: "no upstream is configured (upstream.base_url)"
        case .unreachable(let reason): "the upstream could not be reached: \(reason)"
        case .timedOut(let timeout): "the upstream did not answer within \(timeout)"
        case .status(let status, let code): "the upstream answered \(status)" + (code.map { " (\($0))" } ?? "")
        case .malformed(let what): "the upstream's answer is malformed: \(what)"
        case .circuitOpen(let retryAfter):
            "the upstream failed repeatedly; calls are paused (circuit open), the next try in \(retryAfter.components.seconds) s"
        }
    }
}
