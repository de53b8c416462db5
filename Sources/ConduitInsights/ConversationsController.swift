import ConduitCore
import Foundation
import Hummingbird
import Store

/// `/v1/conversations` and `/v1/insights`: conversations in, one job each through their pipeline,
/// insights out. A conversation is acknowledged (202, with its `job_id`) only once it and its job are
/// committed together; a batch (`{"conversations": [...]}`) is stored whole or not at all. An
/// `Idempotency-Key` answers a resubmission with what the first one stored (200, `Idempotent-Replayed`).
package struct ConversationsController {
    package let teams: TeamScope
    package let queues: any JobQueues
    package let limits: Live<APILimits>
    package let pipelines: Live<PipelineLibrary>
    /// Holds submissions to the caller's limits, at an estimate of four bytes of text a token.
    package let rateLimiter: RateLimiter?

    /// Most conversations in one submission.
    package static let maximumBatch = 1000
    /// Most messages in one conversation, and in one submission.
    package static let maximumMessages = 1000
    package static let maximumMessagesPerSubmission = 100_000
    /// Most bytes of one conversation's metadata, as JSON.
    package static let maximumMetadataBytes = 16_384
    package static let roles: Set<String> = ["system", "developer", "user", "assistant", "tool"]

    private var store: Database { teams.store }

    /// Submitting makes jobs and spends tokens (the `jobs` scope); reading needs `insights`, which a viewer has.
    package func addRoutes(submitting: some RouterMethods<ConduitRequestContext>, reading: some RouterMethods<ConduitRequestContext>) {
        submitting.post("/v1/conversations") { request, context in try await submit(request, context: context) }
        reading.get("/v1/conversations/{id}") { _, context in try await show(context) }
        reading.get("/v1/insights") { request, context in try await insights(request, context: context) }
    }

    private func submit(_ request: Request, context: ConduitRequestContext) async throws -> Response {
        let body = try await request.body.collect(upTo: limits.read(\.maxBodyBytes))
        guard case .object(let object) = try decodeStrictJSON(JSONValue.self, from: body) else {
            throw InvalidInput(
                "the body must be a JSON object: a conversation, or {\"conversations\": [...]}", code: "invalid_type")
        }
        let pipelines = self.pipelines.current
        let isBatch = object["conversations"] != nil
        let submitted: [NewConversation]
        if isBatch {
            guard let list = object["conversations"]?.arrayValue, (1...Self.maximumBatch).contains(list.count),
                case let items = list.compactMap(\.objectValue), items.count == list.count
            else {
                throw InvalidInput(
                    "conversations must be a list of 1 to \(Self.maximumBatch) conversation objects", param: "conversations",
                    code: "invalid_value")
            }
            submitted = try items.enumerated().map { index, item in
                try Self.conversation(item, param: "conversations[\(index)].", defaultPipeline: object["pipeline"], pipelines: pipelines)
            }
        } else {
            submitted = [try Self.conversation(object, param: "", defaultPipeline: nil, pipelines: pipelines)]
        }
        let messageCount = submitted.reduce(0) { $0 + $1.messageCount }
        guard messageCount <= Self.maximumMessagesPerSubmission else {
            throw InvalidInput(
                "a submission takes at most \(Self.maximumMessagesPerSubmission) messages in all, got \(messageCount)",
                param: "conversations", code: "too_many_inputs")
        }
        // Refused before the limits count it: a node that cannot take the work charges nothing.
        guard queues.serves(InsightJobWorker.queue) else {
            throw QueueNotServed(queue: InsightJobWorker.queue, feature: "insights")
        }
        let estimatedTokens = max(1, submitted.reduce(0) { $0 + $1.messages.utf8.count } / 4)
        _ = try await rateLimiter?.admit(context.identity, tokens: estimatedTokens)
        let key = try request.idempotencyKey()
        let trace = TraceContextCarrier.current()
        let (created, isNew) = try await store.conversations.create(
            submitted, teamID: try await teams.teamID(context), idempotencyKey: key, maxWaiting: queues.maxWaitingPerTeam
        ) { conversationID in
            NewJob(
                kind: InsightJobWorker.kind, queue: InsightJobWorker.queue, input: InsightJobWorker.input(conversationID: conversationID),
                traceContext: trace)
        }
        queues.wake(InsightJobWorker.queue)
        let views = created.map(AcceptedConversation.init)
        let status: HTTPResponse.Status = isNew ? .accepted : .ok
        var response =
            isBatch
            ? try json(AcceptedConversations(data: views, jobIDs: created.map(\.jobID)), status: status)
            : try json(views[0], status: status)
        if !isNew { response.headers[.idempotentReplayed] = "true" }
        return response
    }

    /// One conversation of a submission, checked; `param` prefixes the names errors point at.
    package static func conversation(
        _ object: [String: JSONValue], param: String, defaultPipeline: JSONValue?, pipelines: PipelineLibrary
    ) throws -> NewConversation {
        guard let list = object["messages"]?.arrayValue, (1...maximumMessages).contains(list.count),
            case let messages = list.compactMap(\.objectValue), messages.count == list.count
        else {
            throw InvalidInput(
                "\(param)messages must be a list of 1 to \(maximumMessages) messages, each {\"role\", \"content\"}",
                param: "\(param)messages", code: "invalid_value")
        }
        var checked: [ConversationText.Message] = []
        for (index, message) in messages.enumerated() {
            let at = "\(param)messages[\(index)]"
            guard let role = message["role"]?.stringValue, roles.contains(role) else {
                throw InvalidInput(
                    "\(at).role must be one of \(roles.sorted().joined(separator: ", "))", param: "\(at).role", code: "invalid_value")
            }
            guard let content = Self.text(of: message["content"]) else {
                throw InvalidInput(
                    "\(at).content must be a string, null, or a list of parts ({\"type\": \"text\", \"text\": ...})",
                    param: "\(at).content", code: "invalid_type")
            }
            checked.append(ConversationText.Message(role: role, content: content))
        }
        guard checked.contains(where: { Self.isVisible($0.content) }) else {
            throw InvalidInput("\(param)messages are all empty", param: "\(param)messages", code: "empty_input")
        }
        let metadata = object["metadata"] ?? .object([:])
        guard metadata.objectValue != nil else {
            throw InvalidInput("\(param)metadata must be a JSON object", param: "\(param)metadata", code: "invalid_type")
        }
        let metadataJSON = try metadata.canonicalJSON()
        guard metadataJSON.count <= maximumMetadataBytes else {
            throw InvalidInput(
                "\(param)metadata takes at most \(maximumMetadataBytes) bytes of JSON", param: "\(param)metadata", code: "invalid_value")
        }
        guard let pipeline = (object["pipeline"] ?? defaultPipeline ?? .string("default")).stringValue, pipelines[pipeline] != nil else {
            throw InvalidInput(
                "\(param)pipeline must be one of \(pipelines.pipelines.keys.sorted().joined(separator: ", "))",
                param: "\(param)pipeline", code: "unknown_pipeline")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return NewConversation(
            pipeline: pipeline, messages: String(decoding: try encoder.encode(checked), as: UTF8.self),
            metadata: String(decoding: metadataJSON, as: UTF8.self), messageCount: checked.count)
    }

    /// Whether a text shows anything: not only spaces, control and format characters (zero-width, direction marks).
    package static func isVisible(_ text: String) -> Bool {
        text.unicodeScalars.contains { scalar in
            switch scalar.properties.generalCategory {
            case .control, .format, .spaceSeparator, .lineSeparator, .paragraphSeparator, .unassigned, .surrogate, .privateUse: false
            default: true
            }
        }
    }

    /// A message's text as OpenAI's chat format gives it: a string, null (an assistant's tool call), or
    /// parts, of which the text ones count.
    package static func text(of content: JSONValue?) -> String? {
        switch content {
        case .string(let text): return text
        case nil, .null: return ""
        case .array(let list):
            let parts = list.compactMap(\.objectValue)
            guard parts.count == list.count else { return nil }
            return parts.compactMap { $0["type"]?.stringValue == "text" ? $0["text"]?.stringValue : nil }.joined(separator: "\n")
        default: return nil
        }
    }

    private func show(_ context: ConduitRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        let team = try await teams.teamID(context)
        guard let conversation = try await store.conversations.find(id, teamID: team) else {
            throw StoreError.notFound("conversation \(id)")
        }
        let insight = try await store.insights.find(ofConversation: id, teamID: team)
        let job = try await store.jobs.find(conversation.jobID, teamID: team)
        return try json(ConversationView(conversation, job: job, insight: insight))
    }

    private func insights(_ request: Request, context: ConduitRequestContext) async throws -> Response {
        let query = request.uri.queryParameters
        let page = try ListPage(request)
        var filter = InsightFilter(conversationID: query["conversation_id"].map(String.init), label: query["label"].map(String.init))
        for (name, bound) in [("since", \InsightFilter.since), ("until", \InsightFilter.until)] {
            guard let text = query[Substring(name)] else { continue }
            // Seconds since 1970, before year 10000.
            guard let seconds = Double(String(text)), seconds.isFinite, (0...253_402_300_799).contains(seconds) else {
                throw InvalidInput("\(name) must be a time in seconds since 1970", param: name, code: "invalid_value")
            }
            filter[keyPath: bound] = Int64(seconds * 1000)
        }
        let found = try await store.insights.list(
            teamID: try await teams.teamID(context), matching: filter, limit: page.fetch, after: page.after)
        return try page.response(found, id: \.id, view: InsightView.init)
    }
}
