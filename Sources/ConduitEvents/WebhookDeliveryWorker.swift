import AsyncHTTPClient
import ConduitCore
import Foundation
import NIOCore
import NIOHTTP1
import Store

/// Sends one delivery: the event as `{"type", "timestamp", "data"}`, signed as Standard Webhooks
/// says, to the webhook's URL. A 2xx answer completes it; anything else fails the attempt, and the
/// job queue retries it after its backoff, up to `Webhook.deliveryAttempts` times. Every attempt of
/// one event carries the same `webhook-id` (the event's id), so a receiver can drop repeats.
///
/// The job continues the trace of the work that recorded the event; the outbound client makes the
/// call a client span and passes its `traceparent` on to the receiver.
package struct WebhookDeliveryWorker: JobWorker {
    package var kind: String { Webhook.deliveryKind }

    package let store: Database
    package let http: OutboundHTTPClient
    package let settings: Live<WebhooksConfiguration>

    package struct Input: Codable {
        package var deliveryID: String
        package enum CodingKeys: String, CodingKey { case deliveryID = "delivery_id" }
    }

    package func run(_ job: Job, progress: JobProgress) async throws -> JobOutcome {
        let id = try JSONDecoder().decode(Input.self, from: Data(job.input.utf8)).deliveryID
        guard let (_, webhook, event) = try await store.webhooks.pendingDelivery(id) else {
            return JobOutcome(result: #"{"sent":false,"reason":"the webhook was deleted or the event pruned"}"#)
        }
        let settings = self.settings.current
        do {
            let status = try await send(event, to: webhook, settings: settings)
            try await store.webhooks.recordDeliveryAttempt(id, status: .succeeded, responseStatus: status, error: nil)
            return JobOutcome(result: #"{"sent":true,"response_status":\#(status)}"#)
        } catch let error as DeliveryError where error.isFinal {
            // Trying again cannot help: the delivery fails now, and its job completes.
            try await store.webhooks.recordDeliveryAttempt(id, status: .failed, responseStatus: nil, error: error.description)
            return try JobOutcome(encoding: NotSent(reason: error.description))
        } catch let error as DeliveryError {
            let isLast = job.attempt >= job.maxAttempts
            try await store.webhooks.recordDeliveryAttempt(
                id, status: isLast ? .failed : .pending, responseStatus: error.responseStatus, error: error.description)
            throw error
        }
    }

    private struct NotSent: Encodable {
        var sent = false
        let reason: String
    }

    private func send(_ event: Event, to webhook: Webhook, settings: WebhooksConfiguration) async throws -> Int {
        guard let url = URL(string: webhook.url), let host = url.host(percentEncoded: false) else {
            throw DeliveryError.addressNotAllowed("\(webhook.url) is not a URL")
        }
        let pinned = try await ReceiverAddress.check(host: host, allowPrivate: settings.allowPrivateAddresses)
        let body = Self.body(event)
        let timestamp = Int64(Date().timeIntervalSince1970)
        var request = HTTPClientRequest(url: webhook.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "Conduit-Webhooks/1")
        request.headers.add(name: "webhook-id", value: event.id)
        request.headers.add(name: "webhook-timestamp", value: "\(timestamp)")
        request.headers.add(
            name: "webhook-signature",
            value: WebhookSignature.header(id: event.id, timestamp: timestamp, body: body, secrets: webhook.signingSecrets))
        request.body = .bytes(ByteBuffer(bytes: body))
        // Only the status is read. The timeout ends with the response's head: a receiver that then sent its
        // body slowly or never ended it would hold the attempt. Left unread, the body's connection is closed.
        let status: Int
        do {
            let send = { (client: HTTPClient) in Int(try await client.execute(request, timeout: TimeAmount(settings.timeout)).status.code) }
            if let pinned {
                status = try await http.pinning(host, to: "\(pinned)", send)
            } else {
                status = try await send(http.http)
            }
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw DeliveryError.timedOut(settings.timeout)
        } catch {
            throw DeliveryError.unreachable("\(error)")
        }
        guard (200..<300).contains(status) else { throw DeliveryError.status(status) }
        return status
    }

    /// The Standard Webhooks payload; `data` is the event's payload as recorded.
    package static func body(_ event: Event) -> Data {
        let timestamp = Date(timeIntervalSince1970: Double(StoreTime.seconds(event.createdAt))).formatted(.iso8601)
        let topic = String(decoding: (try? JSONEncoder().encode(event.topic)) ?? Data(), as: UTF8.self)
        return Data(#"{"type":\#(topic),"timestamp":"\#(timestamp)","data":\#(event.payload)}"#.utf8)
    }
}

/// Why a delivery attempt failed (shown with the delivery and the job's errors).
package enum DeliveryError: Error, CustomStringConvertible {
    case addressNotAllowed(String)
    case noSuchHost(String)
    case unreachable(String)
    case timedOut(Duration)
    case status(Int)

    /// Whether another attempt would fail the same way.
    package var isFinal: Bool {
        switch self {
        case .addressNotAllowed, .noSuchHost: true
        default: false
        }
    }

    package var responseStatus: Int? {
        if case .status(let status) = self { status } else { nil }
    }

    package var description: String {
        switch self {
        case .addressNotAllowed(let why): "the receiver's address is not allowed: \(why)"
        case .noSuchHost(let host): "the receiver's host \(host) does not exist"
        case .unreachable(let why): "the receiver could not be reached: \(why)"
        case .timedOut(let timeout): "the receiver did not answer within \(timeout)"
        case .status(let status): "the receiver answered \(status)"
        }
    }
}
