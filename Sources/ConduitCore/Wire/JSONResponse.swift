import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Store

/// A JSON response of `value`, its members' names in snake_case as the API writes every name
/// (`jobID` is `job_id`; a name given in snake_case already stays as it is; a dictionary's keys are the
/// client's own and are never changed).
package func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
    let data = try wireJSON(value)
    return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
}
