import Foundation

/// Reading and printing the coordinator's JSON: snake_case keys, RFC 3339 times, and
/// `--json` output in a stable form.
enum CoordinatorJSON {
    /// Decodes `T` from `body`, keys converted from snake_case.
    static func decode<T: Decodable>(_ type: T.Type, from body: [UInt8]) throws -> T {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(T.self, from: Data(body))
    }

    /// `body` re-printed pretty with sorted keys and a final newline; the values are the
    /// server's, unchanged.
    static func pretty(_ body: [UInt8]) throws -> String {
        let value = try JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])
        return try pretty(value)
    }

    /// `value` (a JSON object tree) printed pretty with sorted keys and a final newline.
    static func pretty(_ value: Any) throws -> String {
        let data = try JSONSerialization.data(
            withJSONObject: value, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// A decoding error as one line: the path of keys and what is wrong there.
    static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return String(describing: error) }
        func path(_ keys: [any CodingKey]) -> String {
            keys.isEmpty ? "the top level" : keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context.codingPath + [key])) is missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default: return String(describing: error)
        }
    }

    /// Parses an RFC 3339 time (`2026-11-29T23:37:08Z`, fractional seconds allowed).
    static func parseTime(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }

    /// A duration for people, two units at most: `45s`, `3m12s`, `2h05m`, `3d04h`;
    /// a negative one (clocks apart) counts as 0.
    static func lag(seconds: Int64) -> String {
        let seconds = max(0, seconds)
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        switch seconds {
        case ..<60: return "\(seconds)s"
        case ..<3600: return "\(seconds / 60)m\(two(seconds % 60))s"
        case ..<86_400: return "\(seconds / 3600)h\(two(seconds / 60 % 60))m"
        default: return "\(seconds / 86_400)d\(two(seconds / 3600 % 24))h"
        }
    }
}
