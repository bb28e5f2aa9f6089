/// A Maildir message file name, `<base>[,S=<size>][,W=<vsize>][:2,<flags>]`, as Dovecot
/// writes and reads it (reference: Dovecot `maildir-filename.c` behaviour).
///
/// The base name is everything before `:`; it is also the message GUID when the uidlist
/// has no `G` extension. The info part `2,` is followed by flag letters in ASCII order:
/// system flags `D F R S T`, keyword letters `a`–`z`, and any other letters, which are
/// kept as they are.
public struct MaildirFileName: Hashable, Sendable {
    /// Everything before `:`, including `,S=` and `,W=`.
    public var base: String
    /// The physical size from `,S=`, if present.
    public var size: Int64?
    /// The virtual (CRLF) size from `,W=`, if present.
    public var virtualSize: Int64?
    /// System flags from the info part.
    public var systemFlags: SystemFlags
    /// Keyword indexes (0 = `a` … 25 = `z`) from the info part.
    public var keywordIndexes: [Int]
    /// Info-part letters that are neither system flags nor keyword letters, kept verbatim.
    public var otherFlagLetters: [UInt8]
    /// An info part that is not Maildir version 2 (`:1,…` or other), kept verbatim; nil otherwise.
    public var foreignInfo: String?
    /// Whether the name has an info part (`:2,…`). Files in `new/` usually have none.
    public var hasInfo: Bool

    /// Parses a file name found in `new/` or `cur/`.
    ///
    /// - Throws: `badData` for an empty base name, a base name with `/` or control
    ///   characters, or a `,S=`/`,W=` field that is not a decimal number.
    public init(parsing name: String) throws {
        let bytes = Array(name.utf8)
        try self.init(bytes: bytes[...], original: name)
    }

    init(bytes: ArraySlice<UInt8>, original: @autoclosure () -> String) throws {
        func fail(_ why: String) -> MailStoreError {
            MailStoreError(.badData, "bad message file name \"\(original())\": \(why)")
        }
        let colon = bytes.firstIndex(of: UInt8(ascii: ":"))
        let baseBytes = bytes[bytes.startIndex..<(colon ?? bytes.endIndex)]
        guard !baseBytes.isEmpty else { throw fail("empty base name") }
        for byte in baseBytes where byte < 0x20 || byte == 0x7f || byte == UInt8(ascii: "/") {
            throw fail("base name contains a control character or '/'")
        }
        base = String(decoding: baseBytes, as: UTF8.self)
        size = nil
        virtualSize = nil
        // ,S=<n> and ,W=<n> may appear anywhere in the base, each ends at ',' or the end.
        var index = baseBytes.startIndex
        while let comma = baseBytes[index...].firstIndex(of: UInt8(ascii: ",")) {
            let keyIndex = comma + 1
            index = keyIndex
            guard keyIndex + 1 < baseBytes.endIndex, baseBytes[keyIndex + 1] == UInt8(ascii: "=") else { continue }
            let key = baseBytes[keyIndex]
            guard key == UInt8(ascii: "S") || key == UInt8(ascii: "W") else { continue }
            let valueStart = keyIndex + 2
            let valueEnd = baseBytes[valueStart...].firstIndex(of: UInt8(ascii: ",")) ?? baseBytes.endIndex
            let valueBytes = baseBytes[valueStart..<valueEnd]
            guard let value = Self.parseDecimal(valueBytes) else {
                throw fail(",\(Unicode.Scalar(key))= is not a decimal number")
            }
            if key == UInt8(ascii: "S") { size = value } else { virtualSize = value }
            index = valueEnd
        }
        systemFlags = []
        keywordIndexes = []
        otherFlagLetters = []
        foreignInfo = nil
        hasInfo = false
        if let colon {
            let info = bytes[(colon + 1)...]
            if info.count >= 2 && info[info.startIndex] == UInt8(ascii: "2") && info[info.startIndex + 1] == UInt8(ascii: ",") {
                hasInfo = true
                for letter in info.dropFirst(2) {
                    if let flag = SystemFlags(maildirLetter: letter) {
                        systemFlags.insert(flag)
                    } else if letter >= UInt8(ascii: "a") && letter <= UInt8(ascii: "z") {
                        let keyword = Int(letter - UInt8(ascii: "a"))
                        if !keywordIndexes.contains(keyword) { keywordIndexes.append(keyword) }
                    } else if letter < 0x20 || letter == 0x7f || letter == UInt8(ascii: "/") {
                        throw fail("flag part contains a control character")
                    } else {
                        otherFlagLetters.append(letter)
                    }
                }
                keywordIndexes.sort()
            } else {
                foreignInfo = String(decoding: info, as: UTF8.self)
            }
        }
    }

    /// Builds the name of a new file.
    public init(base: String, systemFlags: SystemFlags = [], keywordIndexes: [Int] = []) {
        self.base = base
        self.size = nil
        self.virtualSize = nil
        self.systemFlags = systemFlags
        self.keywordIndexes = keywordIndexes.sorted()
        self.otherFlagLetters = []
        self.foreignInfo = nil
        self.hasInfo = !systemFlags.isEmpty || !keywordIndexes.isEmpty
        if let parsed = try? MaildirFileName(parsing: base) {
            self.size = parsed.size
            self.virtualSize = parsed.virtualSize
        }
    }

    /// The full file name: base plus `:2,` and the flag letters in ASCII order.
    public var fileName: String {
        if let foreignInfo { return base + ":" + foreignInfo }
        guard hasInfo || !systemFlags.isEmpty || !keywordIndexes.isEmpty || !otherFlagLetters.isEmpty else { return base }
        var letters: [UInt8] = otherFlagLetters
        for entry in SystemFlags.table where systemFlags.contains(entry.flag) { letters.append(entry.letter) }
        for keyword in keywordIndexes where keyword >= 0 && keyword < 26 { letters.append(UInt8(ascii: "a") + UInt8(keyword)) }
        letters.sort()
        return base + ":2," + String(decoding: letters, as: UTF8.self)
    }

    /// Whether `text` can be used as a Maildir base name as it is: printable ASCII without
    /// `/`, `:` or spaces, not starting with `.`, at most 200 bytes.
    public static func isValidBase(_ text: String) -> Bool {
        let bytes = text.utf8
        guard !bytes.isEmpty, bytes.count <= 200, bytes.first != UInt8(ascii: ".") else { return false }
        return bytes.allSatisfy { $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: ":") }
    }

    static func parseDecimal(_ bytes: ArraySlice<UInt8>) -> Int64? {
        guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
        var value: Int64 = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int64(byte - UInt8(ascii: "0"))
        }
        return value
    }
}
