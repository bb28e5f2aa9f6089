/// The tab-separated fields of one line of a state file, as views into the line's bytes
/// (valid only while the line is).
struct StateLineFields {
    private(set) var bytes = UnsafeBufferPointer<UInt8>(start: nil, count: 0)
    private var ranges: [Range<Int>] = []

    /// Splits `line` on tabs, keeping the storage of the previous line's ranges.
    mutating func split(_ line: UnsafeBufferPointer<UInt8>) {
        bytes = line
        ranges.removeAll(keepingCapacity: true)
        var start = 0
        for index in 0..<line.count where line[index] == 0x09 {
            ranges.append(start..<index)
            start = index + 1
        }
        ranges.append(start..<line.count)
    }

    var count: Int { ranges.count }

    subscript(_ index: Int) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: bytes[ranges[index]])
    }

    func isEmpty(_ index: Int) -> Bool { ranges[index].isEmpty }

    /// Field `index` as a decimal number (an optional `-`, then digits).
    func number(_ index: Int, _ name: String) throws(StateLineRejection) -> Int64 {
        let field = self[index]
        var position = 0
        let negative = field.first == UInt8(ascii: "-")
        if negative { position = 1 }
        guard position < field.count else { throw rejection(index, name, "not a number") }
        var value: Int64 = 0
        while position < field.count {
            let digit = field[position] &- UInt8(ascii: "0")
            guard digit < 10 else { throw rejection(index, name, "not a number") }
            let (times, overflow) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(Int64(digit))
            guard !overflow && !overflow2 else { throw rejection(index, name, "number too large") }
            value = sum
            position += 1
        }
        return negative ? -value : value
    }

    /// Field `index` as a count (0 or more, fits an `Int`).
    func count(_ index: Int, _ name: String) throws(StateLineRejection) -> Int {
        let value = try number(index, name)
        guard value >= 0, let count = Int(exactly: value) else { throw rejection(index, name, "not a count") }
        return count
    }

    /// Field `index` as `0` (false) or `1` (true).
    func flag(_ index: Int, _ name: String) throws(StateLineRejection) -> Bool {
        let field = self[index]
        guard field.count == 1, field[0] == UInt8(ascii: "0") || field[0] == UInt8(ascii: "1") else {
            throw rejection(index, name, "not 0 or 1")
        }
        return field[0] == UInt8(ascii: "1")
    }

    /// Field `index` as text: `unescape` maps an escape character and the byte after it to
    /// the byte meant (nil: a bad escape); the result must be UTF-8.
    func text(
        _ index: Int, _ name: String, escape: UInt8, unescape: (UInt8) -> UInt8?
    ) throws(StateLineRejection) -> String {
        let field = self[index]
        guard field.contains(escape) else {
            guard let text = String(validating: field, as: UTF8.self) else { throw rejection(index, name, "not UTF-8") }
            return text
        }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(field.count)
        var position = 0
        while position < field.count {
            let byte = field[position]
            position += 1
            guard byte == escape else {
                decoded.append(byte)
                continue
            }
            guard position < field.count, let meant = unescape(field[position]) else {
                throw rejection(index, name, "bad escape")
            }
            decoded.append(meant)
            position += 1
        }
        guard let text = String(validating: decoded, as: UTF8.self) else { throw rejection(index, name, "not UTF-8") }
        return text
    }

    /// "field 3 (last_update): not a number: '12x4'", the value cut to 40 bytes.
    func rejection(_ index: Int, _ name: String, _ what: String) -> StateLineRejection {
        let field = self[index]
        var shown = String(decoding: field.prefix(40), as: UTF8.self)
        if field.count > 40 { shown += "…" }
        return StateLineRejection("field \(index + 1) (\(name)): \(what): '\(shown)'")
    }
}
