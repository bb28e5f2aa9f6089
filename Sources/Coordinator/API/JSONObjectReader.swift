import Foundation

/// Reads the fields of one JSON object of a request body, strictly: each field is read once
/// with the type it must have, and ``finish()`` refuses any field that was not read, so a
/// misspelt or unknown field is never ignored.
///
/// Every error is an ``APIError/Code/badRequest`` naming the field by its path in the body
/// (`host_a.dsync`, `reports[3].user_id`).
struct JSONObjectReader {
    /// A field of a `PATCH` body: left out (unchanged), `null` (cleared) or set.
    enum Patch<Value> {
        case absent
        case null
        case value(Value)

        /// The change as the store takes it: `nil` unchanged, `.some(nil)` cleared.
        var update: Value?? {
            switch self {
            case .absent: nil
            case .null: .some(nil)
            case .value(let value): .some(value)
            }
        }
    }

    /// The path of this object in the body, `""` for the body itself.
    let path: String
    private let fields: [String: JSONValue]
    private var seen: Set<String> = []

    /// The object `value` is, at `path`.
    ///
    /// - Throws: `badRequest` when `value` is not an object.
    init(_ value: JSONValue, path: String = "") throws(APIError) {
        guard case .object(let fields) = value else {
            throw .badRequest(path.isEmpty ? "the body must be a JSON object, not \(value.kind)" : "field \"\(path)\" must be an object, not \(value.kind)")
        }
        self.path = path
        self.fields = fields
    }

    /// Parses `body` as JSON and reads it as an object.
    ///
    /// - Throws: `badRequest` for an empty body, text that is not JSON (with the parser's
    ///   reason) or a body that is not an object.
    init(body: [UInt8]) throws(APIError) {
        guard body.contains(where: { !Self.isJSONWhitespace($0) }) else {
            throw .badRequest("the body is empty; a JSON object is expected")
        }
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: Data(body))
        } catch let error as DecodingError {
            throw .badRequest("malformed JSON: \(Self.reason(error))")
        } catch {
            throw .badRequest("malformed JSON")
        }
        try self.init(value)
    }

    /// The path of field `key` of this object.
    func path(of key: String) -> String {
        path.isEmpty ? key : path + "." + key
    }

    // MARK: Fields

    /// The value of `key`, or `nil` when it was left out; `null` counts as a value here.
    private mutating func take(_ key: String) -> JSONValue? {
        seen.insert(key)
        return fields[key]
    }

    private func mistyped(_ key: String, _ expected: String, _ value: JSONValue) -> APIError {
        .badRequest("field \"\(path(of: key))\" must be \(expected), not \(value.kind)")
    }

    private func missing(_ key: String) -> APIError {
        // A misspelt or misplaced field is the likelier mistake: name it too.
        let unknown = fields.keys.filter { $0 != key && !seen.contains($0) }.sorted()
        let given = unknown.first.map { "; the body has unknown field \"\(path(of: $0))\"" } ?? ""
        return .badRequest("field \"\(path(of: key))\" is required\(given)")
    }

    /// A required field of type `type`.
    mutating func required<Value>(_ key: String, _ type: JSONField<Value>) throws(APIError) -> Value {
        guard let value = take(key), value != .null else { throw missing(key) }
        return try convert(value, key, type)
    }

    /// A field of type `type` that may be left out or `null` (both give `nil`).
    mutating func optional<Value>(_ key: String, _ type: JSONField<Value>) throws(APIError) -> Value? {
        switch try patch(key, type) {
        case .absent, .null: return nil
        case .value(let value): return value
        }
    }

    /// A field of a `PATCH` body, of type `type`.
    mutating func patch<Value>(_ key: String, _ type: JSONField<Value>) throws(APIError) -> Patch<Value> {
        guard let value = take(key) else { return .absent }
        if value == .null { return .null }
        return .value(try convert(value, key, type))
    }

    /// A required object field, to be read in turn (and finished).
    mutating func object(_ key: String) throws(APIError) -> JSONObjectReader {
        guard let value = take(key), value != .null else { throw missing(key) }
        return try JSONObjectReader(value, path: path(of: key))
    }

    /// A required list of objects, each to be read in turn (and finished).
    mutating func objects(_ key: String) throws(APIError) -> [JSONObjectReader] {
        guard let value = take(key), value != .null else { throw missing(key) }
        guard case .array(let items) = value else { throw mistyped(key, "a list of objects", value) }
        var readers: [JSONObjectReader] = []
        readers.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            readers.append(try JSONObjectReader(item, path: "\(path(of: key))[\(index)]"))
        }
        return readers
    }

    /// A required name of `kind`, checked against the naming rules.
    mutating func name(_ key: String, _ kind: CoordinatorName.Kind) throws(APIError) -> CoordinatorName {
        try Self.name(required(key, .string), kind, field: "field \"\(path(of: key))\"")
    }

    /// `text` as a name of `kind`, or `badRequest` naming `field` (`field "name"`, `query
    /// parameter tenant`) and the rule broken.
    static func name(_ text: String, _ kind: CoordinatorName.Kind, field: String) throws(APIError) -> CoordinatorName {
        do {
            return try CoordinatorName(text, kind: kind)
        } catch {
            throw .badRequest("\(field): \(error)")
        }
    }

    private func convert<Value>(_ value: JSONValue, _ key: String, _ type: JSONField<Value>) throws(APIError) -> Value {
        guard let result = type.convert(value) else { throw mistyped(key, type.expected, value) }
        return result
    }

    /// Refuses every field of the object that was not read.
    ///
    /// - Throws: `badRequest` naming the first unknown field (in sorted order) and the known ones.
    func finish() throws(APIError) {
        let unknown = fields.keys.filter { !seen.contains($0) }.sorted()
        guard let first = unknown.first else { return }
        throw .badRequest(
            "unknown field \"\(path(of: first))\"; known fields here: " + seen.sorted().joined(separator: ", "))
    }

    private static func isJSONWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    private static func reason(_ error: DecodingError) -> String {
        switch error {
        case .dataCorrupted(let context):
            let underlying = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
            return underlying ?? context.debugDescription
        default:
            return "\(error)"
        }
    }
}

/// The type a field must have, and how its JSON value becomes a Swift value.
struct JSONField<Value> {
    /// For messages: "a string", "a whole number", ….
    let expected: String
    /// The value, or `nil` when the JSON value is of another type or out of range.
    let convert: (JSONValue) -> Value?

    static var string: JSONField<String> {
        .init(expected: "a string") { if case .string(let text) = $0 { text } else { nil } }
    }

    static var bool: JSONField<Bool> {
        .init(expected: "true or false") { if case .bool(let flag) = $0 { flag } else { nil } }
    }

    /// A whole number that fits in `Int`.
    static var integer: JSONField<Int> {
        .init(expected: "a whole number") { if case .integer(let number) = $0 { Int(exactly: number) } else { nil } }
    }

    /// A whole number (ids, versions).
    static var integer64: JSONField<Int64> {
        .init(expected: "a whole number") { if case .integer(let number) = $0 { number } else { nil } }
    }

    static var stringList: JSONField<[String]> {
        .init(expected: "a list of strings") { value in
            guard case .array(let items) = value else { return nil }
            var strings: [String] = []
            for item in items {
                guard case .string(let text) = item else { return nil }
                strings.append(text)
            }
            return strings
        }
    }

    /// An RFC 3339 time (`2026-11-29T23:37:08Z`, fractional seconds allowed).
    static var time: JSONField<Date> {
        .init(expected: "an RFC 3339 time such as 2026-11-29T23:37:08Z") { value in
            guard case .string(let text) = value else { return nil }
            return (try? Date(text, strategy: .iso8601))
                ?? (try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
        }
    }

    /// One of a string enumeration's raw values.
    static func oneOf<Choice: RawRepresentable & CaseIterable>(_ type: Choice.Type) -> JSONField<Choice>
    where Choice.RawValue == String {
        .init(expected: "one of " + Choice.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")) { value in
            if case .string(let text) = value { Choice(rawValue: text) } else { nil }
        }
    }
}
