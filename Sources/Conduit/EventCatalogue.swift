import Foundation
import Store

/// docs/events.md: every event type a deployment records, from the catalogue (`NodeFeature.eventTypes`),
/// with who may read it and an example of its payload.
public enum EventCatalogue {
    public static var text: String {
        var text = """
            # Events

            Every event Conduit records, as `GET /v1/events`, `GET /v1/events/stream` and webhooks deliver them.
            Each is `{"object": "event", "id", "sequence", "type", "resource", "created_at", "data"}`: `sequence`
            numbers a team's events 1, 2, 3… in the order they were committed (resume after the last one seen:
            `after=` or `Last-Event-ID`), `resource` names what the event is about (`job:…`, `conversation:…`,
            `key:…`; filter with `resource=`), and `data` is the payload below. A key reads the types its scopes
            allow. Events are kept `events.retention_days`.

            The stream (`GET /v1/events/stream`, server-sent events: `id` is the sequence, `event` the type) also
            sends `: ping` when quiet, and three notices: `events_expired` (`{"after", "earliest"}`: events after
            the client's place were deleted with age), `resync_required` (`{"after"}`: the client fell more than
            `events.stream_buffer` events behind; reconnect from `after`) and `unauthorized` (the key was revoked
            or expired since the stream opened); after the last two the stream ends.

            The WebSocket (`GET /v1/ws`; a browser opens it with a single-use ticket from `POST /v1/ws/tickets`,
            `/v1/ws?ticket=…`) carries the same events, several subscriptions over one socket, as JSON messages.
            The client sends `{"type": "subscribe", "id": "s1", "types": [...], "resource": "...", "after": 41}`,
            `{"type": "unsubscribe", "id": "s1"}`, `{"type": "presence", "resource": "...", "state": "viewing"}`
            (or `"left"`) and `{"type": "ping"}`; the server sends `subscribed`, `event`
            (`{"subscription": "s1", "event": {…}}`), `unsubscribed`, `events_expired`, `resync_required` (then
            it closes the socket, 1013), `presence.update` (`{"resource", "viewers": [{"key_id" or "user_id",
            "since"}]}`, to the team's sockets watching the resource, on every node), `pong`, `unauthorized` (then
            it closes the socket, 1008) and `error` (`{"id", "error": {…}}`). Each subscription is an open stream
            for the limits (`events.max_streams_per_key`, `events.max_streams_per_team`); at most 20 per socket.

            A socket also starts work the node's features offer, at most 4 at once, and stops it: a chat turn,
            `{"type": "chat", "id": "t1", "request": {…a chat completion request…}}` (a key with the `chat` scope),
            is served as `POST /v1/chat/completions` serves a stream (the same limits, routing and metering) and
            answered by `chat.chunk` (`{"id", "chunk": {…OpenAI's chunk…}}`) messages as the provider sends them,
            then `chat.done`, or an `error` with its id (refused, or the provider broke off); `{"type": "cancel",
            "id": "t1"}` stops it and the provider's call (`cancelled`). It runs as the caller is when it starts (a
            key revoked since the handshake closes the socket; changed limits apply).

            This file is generated: `conduit events types > docs/events.md`.

            | type | scope to read it | what happened |
            |---|---|---|

            """
        let types = NodeFeature.eventTypes.sorted { $0.type < $1.type }
        for type in types { text += "| `\(type.type)` | `\(type.scope.rawValue)` | \(type.summary) |\n" }
        for type in types {
            text += "\n## `\(type.type)`\n\n\(type.summary)\n\n```json\n\(example(of: type))\n```\n"
        }
        return text
    }

    private static func example<Payload: EventPayload>(of type: Payload.Type) -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return (try? encoder.encode(type.example)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
