import Foundation

/// Reads the body of a POST from Dovecot's `event_exporter`.
///
/// Dovecot's `http-post` driver sends exactly one event per request, one compact JSON
/// object (`src/stats/stats-metrics.c` formats and sends each matching event on its own;
/// `event-exporter-transport-http-post.c` POSTs that buffer with the format's MIME type,
/// `application/json`). It never batches. So that relays and tests may batch, a body may
/// also be a JSON array of such objects or newline-delimited objects (one per line, blank
/// lines skipped).
enum DovecotEventBody {
    /// The events in `body`, in order.
    ///
    /// - Throws: ``DovecotEventError`` `notJSON` (empty, or neither one JSON value nor
    ///   JSON lines: the first bad line is named), or what ``DovecotEvent`` throws for an
    ///   event of the wrong shape.
    static func events(in body: [UInt8]) throws(DovecotEventError) -> [DovecotEvent] {
        var values: [JSONValue]
        if let value = parse(body[...]) {
            if case .array(let items) = value { values = items } else { values = [value] }
        } else {
            let lines = nonBlankLines(body)
            guard lines.count > 1 else {
                throw DovecotEventError(.notJSON, lines.isEmpty ? "the body is empty" : "the body is not JSON")
            }
            values = []
            for (number, line) in lines {
                guard let value = parse(line) else {
                    throw DovecotEventError(.notJSON, "not JSON (newline-delimited bodies carry one object per line)", line: number)
                }
                values.append(value)
            }
        }
        var events: [DovecotEvent] = []
        events.reserveCapacity(values.count)
        for (index, value) in values.enumerated() {
            events.append(try DovecotEvent(value, position: index + 1))
        }
        return events
    }

    private static func parse(_ bytes: ArraySlice<UInt8>) -> JSONValue? {
        try? JSONDecoder().decode(JSONValue.self, from: Data(bytes))
    }

    /// The lines that hold more than white space, with their numbers from 1.
    private static func nonBlankLines(_ body: [UInt8]) -> [(number: Int, line: ArraySlice<UInt8>)] {
        body.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated().compactMap { index, line in
            line.allSatisfy(isWhiteSpace) ? nil : (index + 1, line)
        }
    }

    private static func isWhiteSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n")
    }
}
