import ConduitCore
import Foundation
import NIOCore
import Store

/// An event as the API shows it, in the history and on the streams alike:
/// `{"object": "event", "id", "sequence", "type", "resource", "created_at", "actor", "data": {…}}`, its time in
/// seconds since 1970 as every object of the API has it.
struct EventView: Encodable, Sendable {
    var object = "event"
    var id: String
    var sequence: Int64
    var type: String
    @Nullable var resource: String?
    var createdAt: Int64
    /// Who caused it: `key:ID`, `user:ID`, `cli`; null for the server's own work.
    @Nullable var actor: String?
    /// The payload, as it was recorded.
    var data: JSONValue

    init(_ event: Event) {
        id = event.id
        sequence = event.sequence
        type = event.topic
        resource = event.resource
        createdAt = event.createdAt / 1000
        actor = event.actor
        data = (try? StrictJSON.parse(event.payload.utf8)) ?? [:]
    }
}

/// An event as the live channels send it, rendered once however many streams it goes to: `json`, its
/// `EventView`, which a WebSocket wraps in its message, and `text`, one server-sent event, whose `id` is
/// the sequence a client resumes after (`Last-Event-ID`) and whose `event` is the type.
package struct StreamedEvent: Sendable {
    package let event: Event
    package let json: String
    package let text: ByteBuffer

    init(_ event: Event) {
        self.event = event
        json = String(decoding: (try? wireJSON(EventView(event))) ?? Data("{}".utf8), as: UTF8.self)
        text = ByteBuffer(string: "id: \(event.sequence)\nevent: \(event.topic)\ndata: \(json)\n\n")
    }
}
