import Foundation

/// One request to the coordinator's API: method, path, query and an optional JSON body.
public struct CoordinatorRequest: Sendable, Equatable {
    /// The HTTP methods the API uses.
    public enum Method: String, Sendable {
        case get = "GET"
        case post = "POST"
        case put = "PUT"
        case patch = "PATCH"
        case delete = "DELETE"
    }

    public var method: Method
    /// The path segments after the leading `/`, unescaped (`["v1", "users", "alice@example.com"]`):
    /// each is percent-encoded when the request is written, so a name can never change the path.
    public var path: [String]
    /// Query parameters in order, unescaped; encoded when written.
    public var query: [(name: String, value: String)]
    /// A JSON body (sent with `Content-Type: application/json`), or nil.
    public var body: [UInt8]?

    public init(_ method: Method, _ path: [String], query: [(name: String, value: String)] = [], body: [UInt8]? = nil) {
        self.method = method
        self.path = path
        self.query = query
        self.body = body
    }

    /// A request whose body is `object` serialised as JSON (`NSNull()` for an explicit `null`).
    ///
    /// - Throws: Foundation's error when `object` holds something JSON cannot carry.
    public init(_ method: Method, _ path: [String], json object: [String: Any]) throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        self.init(method, path, body: Array(data))
    }

    /// The request target: the encoded path and query (`/v1/users/alice%40example.com?tenant=example`).
    public var target: String {
        var target = "/" + path.map(Self.percentEncoded).joined(separator: "/")
        if !query.isEmpty {
            target += "?" + query.map { "\(Self.percentEncoded($0.name))=\(Self.percentEncoded($0.value))" }.joined(separator: "&")
        }
        return target
    }

    /// `text` with every byte outside RFC 3986's unreserved set percent-encoded.
    static func percentEncoded(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]], as: UTF8.self)
            }
        }
        return out
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.method == rhs.method && lhs.path == rhs.path && lhs.body == rhs.body
            && lhs.query.map(\.name) == rhs.query.map(\.name) && lhs.query.map(\.value) == rhs.query.map(\.value)
    }
}

/// The coordinator's answer: status, the `Date` header, and the whole body.
public struct CoordinatorResponse: Sendable {
    /// The HTTP status code.
    public var status: Int
    /// The server's clock at the answer (its `Date` header), nil without one: lags are
    /// computed against it so a skewed local clock does not distort them.
    public var date: Date?
    /// The body, at most the client's ``CoordinatorClient/Configuration/maximumResponseSize`` bytes.
    public var body: [UInt8]

    public init(status: Int, date: Date? = nil, body: [UInt8]) {
        self.status = status
        self.date = date
        self.body = body
    }

    /// Whether the status is 2xx.
    public var isSuccess: Bool { (200..<300).contains(status) }

    /// The API error in the body (`{"error": {"code", "message"}}`), nil when the body has none.
    public var apiError: (code: String, message: String)? {
        struct Envelope: Decodable {
            struct Body: Decodable {
                var code: String
                var message: String
            }
            var error: Body
        }
        guard let envelope = try? JSONDecoder().decode(Envelope.self, from: Data(body)) else { return nil }
        return (envelope.error.code, envelope.error.message)
    }

    /// Parses an HTTP `Date` header (RFC 9110's IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`).
    static func parseDate(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text)
    }
}
