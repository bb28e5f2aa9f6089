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
        write(try jsonText(value))
    }

    /// `value` as ``json(_:)`` writes it: pretty-printed JSON, keys sorted, with a newline.
    static func jsonText(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        return String(decoding: data, as: UTF8.self) + "\n"
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
        _ = errorLine(message).withCString { fputs($0, stderr) }
    }

    /// Writes `text` (whole lines) to standard error as it is.
    static func writeErrors(_ text: String) {
        _ = text.withCString { fputs($0, stderr) }
    }

    /// The line ``error(_:)`` writes for `message`, with its newline.
    static func errorLine(_ message: String) -> String {
        "duplex: error: \(message)\n"
    }

    /// Formats rows as a table: a header line, then one line per row, columns padded to
    /// their widest cell (in characters) and separated by two spaces. Columns listed in
    /// `rightAligned` are right-aligned (numbers). Trailing spaces are not written.
    static func table(header: [String], rows: [[String]], rightAligned: Set<Int> = []) -> String {
        var widths = header.map(displayWidth)
        var cellWidths: [Int] = []
        cellWidths.reserveCapacity(rows.count * header.count)
        for row in rows {
            for (index, cell) in row.enumerated() {
                let width = displayWidth(cell)
                cellWidths.append(width)
                if width > widths[index] { widths[index] = width }
            }
        }
        let lineLength = widths.reduce(0, +) + 2 * widths.count + 1
        var out: [UInt8] = []
        out.reserveCapacity((rows.count + 1) * lineLength)
        func append(_ cells: [String], _ widthOf: (Int) -> Int) {
            for (index, cell) in cells.enumerated() {
                let isLast = index == cells.count - 1
                let padding = widths[index] - widthOf(index)
                if rightAligned.contains(index) {
                    out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: padding))
                    out.append(contentsOf: cell.utf8)
                } else {
                    out.append(contentsOf: cell.utf8)
                    if !isLast { out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: padding)) }
                }
                if !isLast { out.append(UInt8(ascii: " ")); out.append(UInt8(ascii: " ")) }
            }
            out.append(UInt8(ascii: "\n"))
        }
        append(header) { displayWidth(header[$0]) }
        for (rowIndex, row) in rows.enumerated() {
            let base = rowIndex * header.count
            append(row) { cellWidths[base + $0] }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The width of a cell in characters (ASCII fast path).
    static func displayWidth(_ text: String) -> Int {
        var count = 0
        for byte in text.utf8 {
            if byte >= 0x80 { return text.count }
            count += 1
        }
        return count
    }
}
