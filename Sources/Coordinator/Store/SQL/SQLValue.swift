import Foundation

/// A value bound to a statement or read from a row, in the few types the schema uses.
///
/// Dates are `timestamptz` on PostgreSQL and integer microseconds since 1970 on SQLite;
/// booleans are `boolean` and 0/1. Each driver converts both ways.
enum SQLValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case text(String)
    case bool(Bool)
    case date(Date)

    init(_ value: Int64?) { self = value.map(SQLValue.integer) ?? .null }
    init(_ value: Int?) { self = value.map { .integer(Int64($0)) } ?? .null }
    init(_ value: String?) { self = value.map(SQLValue.text) ?? .null }
    init(_ value: Date?) { self = value.map(SQLValue.date) ?? .null }
    init<Entity>(_ id: StoreID<Entity>?) { self = id.map { .integer($0.rawValue) } ?? .null }

    /// Microseconds since 1970, as SQLite stores dates.
    static func microseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
    }
}

/// One result row, by column name.
///
/// Reading a column that is missing or of the wrong type throws a ``CoordinatorStoreError``
/// with code `corrupt`: a row the schema does not allow is bad data, reported with the column.
struct SQLRow: Sendable {
    var values: [String: SQLValue]

    private func value(_ column: String) throws(CoordinatorStoreError) -> SQLValue {
        guard let value = values[column] else { throw Self.corrupt(column, "is missing") }
        return value
    }

    static func corrupt(_ column: String, _ problem: String) -> CoordinatorStoreError {
        CoordinatorStoreError(.corrupt, operation: "read", message: "column \(column) \(problem)")
    }

    func isNull(_ column: String) -> Bool { values[column] == nil || values[column] == .null }

    func int64(_ column: String) throws(CoordinatorStoreError) -> Int64 {
        guard case .integer(let value) = try value(column) else { throw Self.corrupt(column, "is not an integer") }
        return value
    }

    func int(_ column: String) throws(CoordinatorStoreError) -> Int {
        Int(try int64(column))
    }

    func optionalInt64(_ column: String) throws(CoordinatorStoreError) -> Int64? {
        isNull(column) ? nil : try int64(column)
    }

    func string(_ column: String) throws(CoordinatorStoreError) -> String {
        guard case .text(let value) = try value(column) else { throw Self.corrupt(column, "is not text") }
        return value
    }

    func optionalString(_ column: String) throws(CoordinatorStoreError) -> String? {
        isNull(column) ? nil : try string(column)
    }

    func bool(_ column: String) throws(CoordinatorStoreError) -> Bool {
        switch try value(column) {
        case .bool(let value): return value
        case .integer(let value) where value == 0 || value == 1: return value == 1
        default: throw Self.corrupt(column, "is not a boolean")
        }
    }

    func date(_ column: String) throws(CoordinatorStoreError) -> Date {
        switch try value(column) {
        case .date(let value): return value
        case .integer(let micros): return Date(timeIntervalSince1970: Double(micros) / 1_000_000)
        default: throw Self.corrupt(column, "is not a timestamp")
        }
    }

    func optionalDate(_ column: String) throws(CoordinatorStoreError) -> Date? {
        isNull(column) ? nil : try date(column)
    }

    func id<Entity>(_ column: String) throws(CoordinatorStoreError) -> StoreID<Entity> {
        StoreID(try int64(column))
    }

    func optionalID<Entity>(_ column: String) throws(CoordinatorStoreError) -> StoreID<Entity>? {
        isNull(column) ? nil : StoreID(try int64(column))
    }

    func name(_ column: String, _ kind: CoordinatorName.Kind) throws(CoordinatorStoreError) -> CoordinatorName {
        let text = try string(column)
        do { return try CoordinatorName(text, kind: kind) } catch {
            throw Self.corrupt(column, "holds an invalid \(kind.rawValue) name: \(error)")
        }
    }

    func optionalName(_ column: String, _ kind: CoordinatorName.Kind) throws(CoordinatorStoreError) -> CoordinatorName? {
        isNull(column) ? nil : try name(column, kind)
    }

    func enumeration<Value: RawRepresentable>(_ column: String, _ type: Value.Type) throws(CoordinatorStoreError) -> Value
    where Value.RawValue == String {
        let text = try string(column)
        guard let value = Value(rawValue: text) else { throw Self.corrupt(column, "holds an unknown value \(text.debugDescription)") }
        return value
    }

    func endpoint(_ column: String) throws(CoordinatorStoreError) -> ServiceEndpoint {
        let text = try string(column)
        do { return try ServiceEndpoint(text, allowed: [.tls, .http, .https]) } catch {
            throw Self.corrupt(column, "holds an invalid endpoint: \(error)")
        }
    }
}
