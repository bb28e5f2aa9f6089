import Foundation
import Testing

@testable import Coordinator

/// A route's JSON is written directly (the hot path of `GET /v1/users/{user}/route`); it must
/// be byte for byte what the API's `JSONEncoder` writes for every other answer.
@Suite struct RouteRepresentationJSONTests {
    static func route(preferred: HostHealth, other: HostHealth, epoch: Int64) throws -> UserRoute {
        let pair = try APIHostHealthCheckTests.pair(health: other, preferred)
        return UserRoute(
            userID: UserID(7), user: name("alice@example.com", .user), tenant: name("example", .tenant), pair: pair.name,
            epoch: epoch, preferredSide: .b, preferredHost: pair.hostB, otherHost: pair.hostA)
    }

    @Test(arguments: [(HostHealth.up, HostHealth.up, Int64(1)), (.down, .up, 12), (.down, .down, 1 << 40), (.unknown, .down, 3)])
    func routeJSON_isWhatTheEncoderWrites(preferred: HostHealth, other: HostHealth, epoch: Int64) throws {
        let representation = RouteRepresentation(try Self.route(preferred: preferred, other: other, epoch: epoch))
        let encoded = try APIJSON.makeEncoder().encode(representation)
        #expect(String(decoding: representation.json, as: UTF8.self) == String(decoding: encoded, as: UTF8.self))
    }

    @Test(arguments: ["plain", "tls://[::1]:7445/x", "quote\"back\\slash", "tab\tnew\nline\r", "\u{01}\u{08}\u{0C}\u{1F}", "é, 😀 and \u{7F}"])
    func string_isEscapedAsTheEncoderEscapesIt(text: String) throws {
        var written: [UInt8] = Array(#"{"k":"#.utf8)
        RouteRepresentation.appendString(text, to: &written)
        written.append(UInt8(ascii: "}"))
        let encoded = try APIJSON.makeEncoder().encode(["k": text])
        #expect(String(decoding: written, as: UTF8.self) == String(decoding: encoded, as: UTF8.self))
    }
}
