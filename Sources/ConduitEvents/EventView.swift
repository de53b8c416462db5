import ConduitCore
import Foundation
import NIOCore
import Store

/// An event as the API shows it, in the history and on the streams alike:
/// `{"object": "event", "id", "sequence", "type", "resource", "created_at", "data": {…}}`, its time in
/// seconds since 1970 as every object of the API has it.
struct EventView: Encodable, Sendable {
    var object = "event"
    var id: String
    var sequence: Int64
    var type: String
    @Nullable var resource: String?
    var createdAt: Int64
    /// The payload, as it was recorded.
    var data: JSONValue

    init(_ event: Event) {
        id = event.id
        sequence = event.sequence
        type = event.topic
        resource = event.resource
        createdAt = event.createdAt / 1000
        data = (try? StrictJSON.parse(event.payload.utf8)) ?? [:]
    }
}

/// An event as a stream sends it, one server-sent event: its sequence is the `id` a client resumes after
/// (`Last-Event-ID`), its type the `event` name, its `data` the `EventView`. Written once per event, however
/// many streams it goes to.
package struct StreamedEvent: Sendable {
    package let event: Event
    package let text: ByteBuffer

    init(_ event: Event) {
        self.event = event
        var text = ByteBuffer(string: "id: \(event.sequence)\nevent: \(event.topic)\ndata: ")
        text.writeBytes((try? wireJSON(EventView(event))) ?? Data("{}".utf8))
        text.writeString("\n\n")
        self.text = text
    }
}
