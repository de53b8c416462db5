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
        data = (try? StrictJSON.parse(Array(event.payload.utf8))) ?? [:]
    }

    /// The event as one server-sent event: its sequence is the `id` a client resumes after
    /// (`Last-Event-ID`), its type the `event` name.
    var serverSentEvent: ByteBuffer {
        var buffer = ByteBuffer(string: "id: \(sequence)\nevent: \(type)\ndata: ")
        buffer.writeBytes((try? wireJSON(self)) ?? Data("{}".utf8))
        buffer.writeString("\n\n")
        return buffer
    }
}
