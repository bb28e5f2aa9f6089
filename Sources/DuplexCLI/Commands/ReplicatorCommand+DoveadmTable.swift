/// Dovecot's `doveadm` table formatter, so that `duplex replicator` prints what
/// `doveadm replicator` prints, padding included (reference §4.3).
///
/// Its rules: a column is as wide as its title or its widest cell among the first 100
/// rows (in characters); cells are left-aligned, padded to the width, separated by one
/// space, the last one padded too (lines end in spaces). When the columns are narrower
/// than the output, half the spare width goes to the first expanding column, or to the
/// last column when none expands. When they are wider, columns are shrunk from the last
/// one as doveadm does it; cells are never cut. The title line is left out when every
/// title is hidden.
struct DoveadmTable {
    /// doveadm's width when standard output is no terminal.
    static let defaultWidth = 80
    /// doveadm's narrowest width for a terminal.
    static let minimumWidth = 30
    /// How many rows doveadm measures before it prints.
    static let measuredRows = 100

    struct Column {
        var title: String
        var hidesTitle = false
        /// Takes the spare width (doveadm's `EXPAND` flag: `username`).
        var expands = false
    }

    var columns: [Column]
    /// The output width, in characters.
    var width = defaultWidth

    /// The table as text, one line per row (after the title line unless every title is
    /// hidden), each ending in a newline.
    func render(_ rows: [[String]]) -> String {
        let rows = rows.map { $0.map(Self.printable) }
        let lengths = columnLengths(rows)
        var out = ""
        func append(_ cells: [String]) {
            for (index, cell) in cells.enumerated() {
                if index > 0 { out += " " }
                out += cell
                out += String(repeating: " ", count: max(0, lengths[index] - cell.unicodeScalars.count))
            }
            out += "\n"
        }
        if columns.contains(where: { !$0.hidesTitle }) { append(columns.map(\.title)) }
        for row in rows { append(row) }
        return out
    }

    /// The width the columns need, separators included, before any shrinking or widening.
    func naturalWidth(_ rows: [[String]]) -> Int {
        measure(rows.map { $0.map(Self.printable) }).length.reduce(0) { $0 + $1 + 1 } - 1
    }

    /// Each column's width (its title's or its widest cell's) and its narrowest cell.
    private func measure(_ rows: [[String]]) -> (length: [Int], minimum: [Int]) {
        var length = columns.map { $0.title.unicodeScalars.count }
        var minimum = length
        for row in rows.prefix(Self.measuredRows) {
            for (index, cell) in row.enumerated() where index < columns.count {
                let count = cell.unicodeScalars.count
                minimum[index] = min(minimum[index], count)
                length[index] = max(length[index], count)
            }
        }
        return (length, minimum)
    }

    /// The width of every column: measured, then shrunk or widened to the output width.
    private func columnLengths(_ rows: [[String]]) -> [Int] {
        let measured = measure(rows)
        let minimum = measured.minimum
        var length = measured.length
        var total = length.reduce(0) { $0 + $1 + 1 } - 1
        // doveadm's shrinking: walking from the last column, the first one that can absorb
        // the whole excess does; the others on the way give up half their slack. Only the
        // absorbing step counts against the total, so this can stop above the width.
        while total > width {
            let before = total
            for index in columns.indices.reversed() {
                let slack = length[index] - minimum[index]
                if total - slack <= width {
                    length[index] -= total - width
                    total = width
                    break
                }
                if slack > 0 { length[index] -= slack == 1 ? 1 : slack / 2 }
            }
            if total == before { break }
        }
        if total < width, !columns.isEmpty {
            let index = columns.firstIndex(where: \.expands) ?? columns.count - 1
            length[index] += (width - total) / 2
        }
        return length
    }

    /// A cell with control characters (a newline in a user name) shown as `?`: one row
    /// stays one line, and nothing reaches the terminal as an escape sequence.
    static func printable(_ cell: String) -> String {
        guard cell.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return cell }
        return String(String.UnicodeScalarView(cell.unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : $0 }))
    }
}
