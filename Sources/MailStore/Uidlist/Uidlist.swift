/// The content of a Maildir's `dovecot-uidlist`: the UID ↔ file map and the mailbox's
/// UIDVALIDITY, next UID and GUID (reference: Dovecot 2.3 `maildir-uidlist.c` format).
///
/// Version 3: header `3 V<uidvalidity> N<nextuid> G<guid>[ <key><value>…]`, records
/// `<uid>[ <key><value>…] :<base name>`. Version 1 (read only): header
/// `1 <uidvalidity> <nextuid>`, records `<uid> <file name>`. Unknown header keys and
/// record extensions are kept and written back.
public struct Uidlist: Sendable, Equatable {
    /// One `<key><value>` field: a single ASCII letter and a value without spaces.
    public struct Field: Sendable, Equatable {
        public var key: UInt8
        public var value: String
        public init(key: Character, value: String) {
            self.key = key.asciiValue ?? UInt8(ascii: "?")
            self.value = value
        }
        init(key: UInt8, value: String) {
            self.key = key
            self.value = value
        }
    }

    /// One message: its UID, extensions (`S`, `W`, `G`, `P`, `O`, …) and base file name.
    public struct Record: Sendable, Equatable {
        public var uid: UInt32
        public var fields: [Field]
        /// The file name without the `:2,…` info part.
        public var baseName: String

        public init(uid: UInt32, fields: [Field] = [], baseName: String) {
            self.uid = uid
            self.fields = fields
            self.baseName = baseName
        }

        /// The value of extension `key`, if present.
        public func field(_ key: Character) -> String? {
            let byte = key.asciiValue ?? 0
            return fields.first(where: { $0.key == byte })?.value
        }

        /// The message GUID: the `G` extension, else the base name (Dovecot's rule).
        public var guid: String { field("G") ?? baseName }
    }

    /// The format version read (1 or 3). Always written as 3.
    public var version: Int
    /// UIDVALIDITY (RFC 3501 §2.3.1.1). Zero only in a corrupt or empty header.
    public var uidValidity: UInt32
    /// The header's next UID. May be below the last record's UID + 1 (records are appended).
    public var headerNextUID: UInt32
    /// The mailbox GUID (header `G`), nil when the header has none.
    public var mailboxGUID: MailboxGUID?
    /// Header fields other than V, N and G, in file order.
    public var otherHeaderFields: [Field]
    /// Records in increasing UID order.
    public var records: [Record]

    public init(uidValidity: UInt32, nextUID: UInt32 = 1, mailboxGUID: MailboxGUID?, records: [Record] = []) {
        self.version = 3
        self.uidValidity = uidValidity
        self.headerNextUID = nextUID
        self.mailboxGUID = mailboxGUID
        self.otherHeaderFields = []
        self.records = records
    }

    /// The next UID to assign: max(header N, highest UID + 1). `UInt32.max` when the
    /// highest UID is `UInt32.max` (no UID is left; callers treat this as exhausted).
    public var nextUID: UInt32 {
        // Saturate rather than wrap: a wrapped value would hand out a used UID again.
        let afterLast = records.last.map { $0.uid == UInt32.max ? UInt32.max : $0.uid + 1 } ?? 1
        return max(headerNextUID, afterLast)
    }
}
