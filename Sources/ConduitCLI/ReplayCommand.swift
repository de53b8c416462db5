import ArgumentParser
import AsyncHTTPClient
import Conduit
import ConduitCore
import Foundation
import NIOCore
import NIOHTTP1
import Store

struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Send a logged request again and show how the answer differs.",
        discussion: """
            Reads the request from the request log (request_log.* selects what is kept) in the store, sends it to \
            a running server with the key given here (the log never keeps credentials), so that today's model, \
            limits and checks answer it, and compares: the status, and for embeddings the cosine similarity of each \
            new vector to its old one. A field the log redacted is sent as "[redacted]".
            """
    )

    @Argument(help: "The request's id: the x-request-id of its answer, and request_id in the access log.")
    var requestID: String

    @Option(help: "The server to send it to.")
    var serverURL = "http://127.0.0.1:8080"

    @Option(help: "API key to send it with (env CONDUIT_API_KEY); none for a server without authentication.")
    var apiKey: String?

    @Flag(help: "Replay a request that changes something (creates, rotates or deletes); by default only reads and embeddings are replayed.")
    var allowChanges = false

    @OptionGroup var database: StoreOptions

    /// Requests that only compute or read: replaying them changes nothing on the server.
    static func changesNothing(method: String, path: String) -> Bool {
        let route = path.split(separator: "?").first.map(String.init) ?? path
        return method == "GET" || (method == "POST" && ["/v1/embeddings", "/v1/tokenize"].contains(route))
    }

    func run() async throws {
        guard let logged = try await database.withDatabase(logger: quietLogger(), { try await $0.requestLog.find(requestID) }) else {
            throw ValidationError("no logged request '\(requestID)': it was not selected by request_log, or is past its retention")
        }
        guard allowChanges || Self.changesNothing(method: logged.method, path: logged.path) else {
            throw ValidationError("\(logged.method) \(logged.path) changes something on the server; replay it with --allow-changes")
        }
        let logTime = Date(timeIntervalSince1970: TimeInterval(StoreTime.seconds(logged.createdAt))).ISO8601Format()
        print("request: \(logged.method) \(logged.path) of team \(logged.teamID ?? "-"), key \(logged.keyID ?? "-"), logged \(logTime)")
        var request = HTTPClientRequest(url: serverURL.trimmingSuffix("/") + logged.path)
        request.method = .init(rawValue: logged.method)
        if !logged.requestBody.isEmpty {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: logged.requestBody))
        }
        if let key = apiKey ?? ProcessInfo.processInfo.environment["CONDUIT_API_KEY"] {
            request.headers.add(name: "Authorization", value: "Bearer \(key)")
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
        let body = try await response.body.collect(upTo: 256 << 20)
        if let id = response.headers.first(name: "x-request-id") { print("replayed as: \(id)") }
        let comparison = ReplayComparison(
            oldStatus: logged.status, oldBody: logged.responseBody, newStatus: Int(response.status.code),
            newBody: Data(body.readableBytesView))
        print(comparison.summary)
    }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String { hasSuffix(suffix) ? String(dropLast(suffix.count)) : self }
}
