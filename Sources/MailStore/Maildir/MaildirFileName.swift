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
        let summary = try bytes.withUnsafeBufferPointer { try Summary(parsing: $0, original: original()) }
        base = String(decoding: bytes.prefix(summary.baseLength), as: UTF8.self)
        size = summary.size
        virtualSize = summary.virtualSize
        systemFlags = summary.systemFlags
        keywordIndexes = summary.keywordIndexes
        otherFlagLetters = []
        foreignInfo = nil
        hasInfo = summary.hasInfo
        let info = bytes.dropFirst(summary.baseLength + 1)
        if summary.hasForeignInfo {
            foreignInfo = String(decoding: info, as: UTF8.self)
        } else if summary.hasOtherLetters {
            otherFlagLetters = info.dropFirst(2).filter {
                SystemFlags(maildirLetter: $0) == nil && !($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z"))
            }
        }
    }

    /// What a directory scan needs from a file name, parsed without allocating.
    struct Summary: Sendable {
        /// Bytes before `:` (the base name).
        var baseLength: Int
        var size: Int64?
        var virtualSize: Int64?
        var systemFlags: SystemFlags = []
        /// Bit `i` set for keyword letter `'a' + i`.
        var keywordMask: UInt32 = 0
        var hasInfo = false
        var hasForeignInfo = false
        var hasOtherLetters = false

        var keywordIndexes: [Int] {
            guard keywordMask != 0 else { return [] }
            return (0..<26).filter { keywordMask & (1 << UInt32($0)) != 0 }
        }

        /// Parses a file name.
        ///
        /// - Throws: `badData` for an empty base name, a base name with `/` or control
        ///   characters, a `,S=`/`,W=` field that is not a decimal number, or control
        ///   characters in the flags.
        init(parsing name: UnsafeBufferPointer<UInt8>, original: @autoclosure () -> String) throws {
            func fail(_ why: String) -> MailStoreError {
                MailStoreError(.badData, "bad message file name \"\(original())\": \(why)")
            }
            var colon = name.count
            for index in 0..<name.count {
                let byte = name[index]
                if byte == UInt8(ascii: ":") { colon = index; break }
                if byte < 0x20 || byte == 0x7f || byte == UInt8(ascii: "/") {
                    throw fail("base name contains a control character or '/'")
                }
            }
            guard colon > 0 else { throw fail("empty base name") }
            baseLength = colon
            // ,S=<n> and ,W=<n> may appear anywhere in the base; each ends at ',' or the end.
            var index = 0
            while index < colon {
                guard name[index] == UInt8(ascii: ","), index + 2 < colon, name[index + 2] == UInt8(ascii: "=") else {
                    index += 1
                    continue
                }
                let key = name[index + 1]
                guard key == UInt8(ascii: "S") || key == UInt8(ascii: "W") else { index += 1; continue }
                var end = index + 3
                var value: Int64 = 0
                var digits = 0
                while end < colon, name[end] != UInt8(ascii: ",") {
                    let byte = name[end]
                    guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), digits < 18 else {
                        throw fail(",\(Unicode.Scalar(key))= is not a decimal number")
                    }
                    value = value * 10 + Int64(byte - UInt8(ascii: "0"))
                    digits += 1
                    end += 1
                }
                guard digits > 0 else { throw fail(",\(Unicode.Scalar(key))= is not a decimal number") }
                if key == UInt8(ascii: "S") { size = value } else { virtualSize = value }
                index = end
            }
            guard colon < name.count else { return }
            try parseInfo(UnsafeBufferPointer(rebasing: name[colon...]), fail: fail)
        }

        /// A summary of a name whose base was parsed before (the scan cache keeps its length
        /// and sizes): only the info part (from `:`; empty when there is none) is parsed.
        ///
        /// - Throws: `badData` for control characters in the flags.
        init(baseLength: Int, size: Int64?, virtualSize: Int64?, info: UnsafeBufferPointer<UInt8>) throws {
            self.baseLength = baseLength
            self.size = size
            self.virtualSize = virtualSize
            guard !info.isEmpty else { return }
            try parseInfo(info) { MailStoreError(.badData, "bad message file name info part: \($0)") }
        }

        /// Reads the info part, `info[0]` being the `:`.
        private mutating func parseInfo(_ info: UnsafeBufferPointer<UInt8>, fail: (String) -> MailStoreError) throws {
            guard info.count >= 3, info[1] == UInt8(ascii: "2"), info[2] == UInt8(ascii: ",") else {
                hasForeignInfo = true
                return
            }
            hasInfo = true
            for position in 3..<info.count {
                let letter = info[position]
                if let flag = SystemFlags(maildirLetter: letter) {
                    systemFlags.insert(flag)
                } else if letter >= UInt8(ascii: "a") && letter <= UInt8(ascii: "z") {
                    keywordMask |= 1 << UInt32(letter - UInt8(ascii: "a"))
                } else if letter < 0x20 || letter == 0x7f || letter == UInt8(ascii: "/") {
                    throw fail("flag part contains a control character")
                } else {
                    hasOtherLetters = true
                }
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
        var known: [UInt8] = []
        for entry in SystemFlags.table where systemFlags.contains(entry.flag) { known.append(entry.letter) }
        for keyword in keywordIndexes where keyword >= 0 && keyword < 26 { known.append(UInt8(ascii: "a") + UInt8(keyword)) }
        known.sort()
        // Other letters keep their order; each known letter goes before the first other
        // letter above it (Dovecot's merge). Sorting all bytes together would split a
        // multi-byte character among the other letters.
        var letters: [UInt8] = []
        letters.reserveCapacity(known.count + otherFlagLetters.count)
        var nextKnown = known.startIndex
        for other in otherFlagLetters {
            while nextKnown < known.endIndex, known[nextKnown] < other {
                letters.append(known[nextKnown])
                nextKnown += 1
            }
            letters.append(other)
        }
        letters.append(contentsOf: known[nextKnown...])
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
