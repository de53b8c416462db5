import Foundation
import Testing

@testable import Store

@Suite("Store: identifiers")
struct RandomIdentifierTests {
    @Test("a new identifier is a random version-4 UUID in lower case, and no two are alike")
    func versionFourUUIDs() throws {
        let identifiers = (0..<2000).map { _ in randomIdentifier() }
        #expect(Set(identifiers).count == identifiers.count)
        for identifier in identifiers.prefix(200) {
            let uuid = try #require(UUID(uuidString: identifier), "\(identifier)")
            #expect(uuid.uuidString.lowercased() == identifier)
            let bytes = uuid.uuid
            #expect(bytes.6 >> 4 == 4, "version 4: \(identifier)")
            #expect(bytes.8 >> 6 == 0b10, "RFC 9562 variant: \(identifier)")
        }
        // Every other bit varies: the randomness is not stuck anywhere.
        let masks = identifiers.map { UUID(uuidString: $0)!.uuid }.map { withUnsafeBytes(of: $0) { Array($0) } }
        let varying = (0..<16).map { index in Set(masks.map { $0[index] }).count > 1 }
        #expect(varying.allSatisfy { $0 })
    }
}
