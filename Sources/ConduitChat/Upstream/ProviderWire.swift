import AsyncHTTPClient
import ConduitCore
import Foundation
import NIOCore
import NIOHTTP1

/// How each kind of provider is spoken to: where a call goes, how its key is sent, and how its answer
/// and its stream become OpenAI's chat completion. (A `local` deployment serves embeddings alone, in
/// process: the models table refuses it for a chat model, and it is spoken to as OpenAI's API would be.)
extension GatewayDeployment.Provider {
    /// Where chat completions go under the base URL.
    var chatPath: String {
        switch self {
        case .openai, .local: "chat/completions"
        case .anthropic: "messages"
        }
    }

    func authorize(_ request: inout HTTPClientRequest, key: String) {
        switch self {
        case .openai, .local:
            request.headers.add(name: "Authorization", value: "Bearer \(key)")
        case .anthropic:
            request.headers.add(name: "x-api-key", value: key)
        }
    }

    func prepare(_ request: inout HTTPClientRequest) {
        if self == .anthropic { request.headers.add(name: "anthropic-version", value: AnthropicMessages.version) }
    }

    /// The body of a request for `model` at this provider.
    func body(of request: ChatCompletionRequest, model: String) throws -> ByteBuffer {
        switch self {
        case .openai, .local: request.upstreamBody(model: model)
        case .anthropic: try AnthropicMessages.request(request.fields, model: model)
        }
    }

    /// The provider's whole answer as an OpenAI chat completion, with its usage when it gave one.
    func completion(from body: ByteBuffer) throws -> (ByteBuffer, TokenUsage?) {
        switch self {
        case .openai, .local:
            guard let completion = ChatCompletionAnswer(reading: body) else {
                throw AttemptFailure.malformed("not a chat completion")
            }
            return (body, completion.usage)
        case .anthropic:
            let (translated, usage) = try AnthropicMessages.completion(from: body)
            return (translated, usage)
        }
    }

    func relay(forwardsUsage: Bool) -> any StreamRelay {
        switch self {
        case .openai, .local: OpenAIStreamRelay(forwardsUsage: forwardsUsage)
        case .anthropic: AnthropicStreamRelay(forwardsUsage: forwardsUsage)
        }
    }
}

/// What is read of an OpenAI-compatible chat completion: that it is one (its `choices` a list), its
/// first choice's text, and its usage.
package struct ChatCompletionAnswer {
    package var content: String?
    package var usage: TokenUsage?

    /// Reads `body` in one strict pass (`StrictJSON`), the answer being passed on as it is; nil when it is
    /// not a chat completion. Usage that is not an object counts as none: the answer itself is still good.
    package init?(reading body: ByteBuffer) {
        guard case .object(let answer)? = try? StrictJSON.parse(body.readableBytesView), case .array(let choices)? = answer["choices"]
        else { return nil }
        content = choices.first?.objectValue?["message"]?.objectValue?["content"]?.stringValue
        usage = answer["usage"]?.objectValue.map(TokenUsage.init)
    }
}
