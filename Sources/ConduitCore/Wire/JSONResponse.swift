import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// A JSON response of `value`.
package func json(
    _ value: some Encodable, status: HTTPResponse.Status = .ok, keys: JSONEncoder.KeyEncodingStrategy = .useDefaultKeys
) throws -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    encoder.keyEncodingStrategy = keys
    let data = try encoder.encode(value)
    return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
}
