import Foundation
import Hummingbird
import NIOCore

/// How the API writes JSON: `snake_case` keys from the Swift names, RFC 3339 times in UTC
/// (`2026-11-29T23:37:08Z`), sorted keys (stable answers), and `null` written out for
/// optional fields marked ``EncodesNull``, as the API document shows them.
enum APIJSON {
    static func makeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(APIJSON.timestamp(date))
        }
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// `date` as RFC 3339 in UTC, whole seconds.
    static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601)
    }

    /// `value` as a JSON response.
    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        // The values are plain structs of strings, numbers and dates: encoding cannot fail.
        let data = (try? makeEncoder().encode(value)) ?? Data("{}".utf8)
        return response(json: data, status: status)
    }

    /// A response whose body is `json`, already written.
    static func response(json: some Sequence<UInt8>, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: json)))
    }
}

/// An optional field written as `null` when it is `nil` (synthesized `Encodable` leaves nil
/// fields out, the API document shows them).
@propertyWrapper
struct EncodesNull<Value: Encodable & Sendable>: Encodable, Sendable {
    var wrappedValue: Value?

    init(wrappedValue: Value?) {
        self.wrappedValue = wrappedValue
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}
