import ConduitCore
import Hummingbird
import NIOCore

/// The API's OpenAPI 3.1 document (`OpenAPI/openapi.json`, compiled in), served at `GET /openapi.json`.
/// A test holds it to the routes the application registers, both ways, and checks that what the routes
/// answer fits its schemas.
public enum OpenAPIDocument {
    public static var json: [UInt8] { PackageResources.openapi_json }

    static func addRoute(to router: RecordingRouter) {
        // Made once: every answer shares its bytes.
        let body = ByteBuffer(bytes: json)
        router.get("/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
        }
    }
}
