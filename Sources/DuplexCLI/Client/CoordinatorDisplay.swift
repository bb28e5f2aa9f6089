import Foundation

/// Shared pieces of the coordinator commands' output for people: labelled fields and
/// times shown as "how long ago" against the coordinator's clock.
enum CoordinatorDisplay {
    /// `label  value` lines, the values aligned after the longest label.
    static func fields(_ fields: [(String, String)]) -> String {
        let width = fields.map { Output.displayWidth($0.0) }.max() ?? 0
        var out = ""
        for (label, value) in fields {
            out += label + String(repeating: " ", count: width - Output.displayWidth(label) + 2) + printable(value) + "\n"
        }
        return out
    }

    /// How long before `now` the RFC 3339 `time` was (`3m12s`); `never` for nil, the text
    /// itself when it is not a time.
    static func ago(_ time: String?, now: Date) -> String {
        guard let time else { return "never" }
        guard let date = CoordinatorJSON.parseTime(time) else { return time }
        return CoordinatorJSON.lag(seconds: Int64(now.timeIntervalSince(date).rounded(.down)))
    }

    /// `name (health)` for a host in a table cell.
    static func host(_ host: APIHost) -> String {
        "\(host.name) (\(host.health ?? "unknown"))"
    }

    /// A value with control characters shown as `?`, so text from the server never
    /// reaches the terminal as an escape sequence.
    static func printable(_ text: String) -> String {
        DoveadmTable.printable(text)
    }

    /// `rows` as an aligned table (``Output/table(header:rows:rightAligned:)``), every cell printable.
    static func table(header: [String], rows: [[String]], rightAligned: Set<Int> = []) -> String {
        Output.table(header: header, rows: rows.map { $0.map(printable) }, rightAligned: rightAligned)
    }
}
