extension Uidlist {
    /// The version 3 header line, `3 V<uidvalidity> N<nextuid> G<guid>[ …]\n`, with
    /// `N` set to ``nextUID`` (the value Dovecot writes when it recreates the file).
    ///
    /// - Precondition: ``mailboxGUID`` is set (callers generate one first, as Dovecot does).
    public func headerLine() -> String {
        var line = "3 V\(uidValidity) N\(nextUID)"
        if let mailboxGUID { line += " G\(mailboxGUID.hex)" }
        for field in otherHeaderFields { line += " " + String(decoding: [field.key], as: UTF8.self) + field.value }
        return line + "\n"
    }

    /// One record line, `<uid>[ <key><value>…] :<base name>\n`.
    public static func recordLine(_ record: Record) -> String {
        var line = String(record.uid)
        for field in record.fields { line += " " + String(decoding: [field.key], as: UTF8.self) + field.value }
        return line + " :" + record.baseName + "\n"
    }

    /// The whole file in version 3 format.
    public func serialized() -> [UInt8] {
        var text = headerLine()
        text.reserveCapacity(records.count * 48 + 64)
        for record in records { text += Self.recordLine(record) }
        return Array(text.utf8)
    }
}
