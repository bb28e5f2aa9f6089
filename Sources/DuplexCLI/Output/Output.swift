#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

import Foundation

/// Writes command output: aligned tables for people, JSON for scripts.
enum Output {
    /// Encodes `value` as pretty-printed JSON (keys sorted) and writes it with a newline.
    static func json(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        write(String(decoding: data, as: UTF8.self) + "\n")
    }

    /// Writes `text` to standard output in one go.
    static func write(_ text: String) {
        var text = text
        text.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Glibc.write(1, buffer.baseAddress! + offset, buffer.count - offset)
                if n <= 0 { if errno == EINTR { continue }; return }
                offset += n
            }
        }
    }

    /// Writes `duplex: error: <message>` to standard error.
    static func error(_ message: String) {
        let line = "duplex: error: \(message)\n"
        _ = line.withCString { fputs($0, stderr) }
    }

    /// Formats rows as a table: a header line, then one line per row, columns padded to
    /// their widest cell (by characters) and separated by two spaces. Columns listed in
    /// `rightAligned` are right-aligned (numbers).
    static func table(header: [String], rows: [[String]], rightAligned: Set<Int> = []) -> String {
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where cell.count > widths[index] { widths[index] = cell.count }
        }
        var out = ""
        out.reserveCapacity((rows.count + 1) * (widths.reduce(0, +) + 2 * widths.count + 1))
        func append(_ cells: [String]) {
            var line = ""
            for (index, cell) in cells.enumerated() {
                let isLast = index == cells.count - 1
                let padding = String(repeating: " ", count: widths[index] - cell.count)
                if rightAligned.contains(index) {
                    line += padding + cell
                } else {
                    line += cell
                    if !isLast { line += padding }
                }
                if !isLast { line += "  " }
            }
            out += line + "\n"
        }
        append(header)
        for row in rows { append(row) }
        return out
    }
}

