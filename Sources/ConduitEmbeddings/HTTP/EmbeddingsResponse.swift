import ConduitCore
import Foundation
import NIOCore

/// Writes the `POST /v1/embeddings` response body straight into a buffer.
///
/// Vectors are most of the bytes, so they are written directly instead of through an
/// intermediate `Encodable` tree: `float` as JSON numbers in shortest round-trip form,
/// `base64` as the little-endian float32 bytes, which is what the OpenAI SDKs decode.
package enum EmbeddingsResponse {
    package static func write(vectors: [[Float]], format: EmbeddingsRequest.EncodingFormat, model: String, promptTokens: Int) -> ByteBuffer
    {
        let estimate = vectors.reduce(128) { $0 + $1.count * (format == .float ? 12 : 6) + 48 }
        var buffer = ByteBufferAllocator().buffer(capacity: estimate)
        buffer.writeString(#"{"object":"list","data":["#)
        for (index, vector) in vectors.enumerated() {
            if index > 0 { buffer.writeString(",") }
            buffer.writeString(#"{"object":"embedding","index":\#(index),"embedding":"#)
            switch format {
            case .float:
                buffer.writeString("[")
                for (position, value) in vector.enumerated() {
                    if position > 0 { buffer.writeString(",") }
                    buffer.writeString(value.isFinite ? value.description : "0")
                }
                buffer.writeString("]")
            case .base64:
                buffer.writeString("\"")
                buffer.writeString(Float32LE.bytes(vector).base64EncodedString())
                buffer.writeString("\"")
            }
            buffer.writeString("}")
        }
        buffer.writeString(#"],"model":"#)
        buffer.writeString(jsonString(model))
        buffer.writeString(#","usage":{"prompt_tokens":\#(promptTokens),"total_tokens":\#(promptTokens)}}"#)
        return buffer
    }

    package static func jsonString(_ value: String) -> String {
        let data = (try? JSONEncoder().encode(value)) ?? Data("\"\"".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
