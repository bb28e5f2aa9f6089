import Foundation
import MailStore

/// The binary form of a state header (the `<key>.state` file): read and written without
/// `JSONDecoder`, whose run-time type lookups cost a sync that finds nothing to do about
/// 2 ms, as much as the rest of it.
///
/// Layout (little-endian, the primitives of ``BinaryWriter``): magic `DXSH`, layout version
/// u32 (1); state version u32; user, side A, side B as strings; saved-at as the u64 bits of
/// its seconds since 1970 (a Double); stamps of A, then of B; the messages file name as a
/// string; mailbox count u64; message count u64; generation as u8 0 (none) or 1 and a u64;
/// then an FNV-1a 64 checksum of everything before it. Stamps are: u32 mailbox count, each
/// the name (a string) and the mailbox stamp; subscriptions as an optional file stamp; taken
/// at, seconds and nanoseconds, two u64 bits of Int64. A mailbox stamp is the file stamps of
/// `cur/` and `new/` and the optional ones of the uidlist and keywords files; a file stamp
/// is inode u64, size, seconds and nanoseconds (u64 bits of Int64); an optional one is u8 0
/// (none) or 1 and the stamp.
///
/// A header written in JSON (what earlier versions wrote) is still read.
extension SyncState.Header {
    static let binaryMagic: [UInt8] = Array("DXSH".utf8)
    static let binaryLayout: UInt32 = 1

    /// Encodes the header.
    func binaryEncoded() -> [UInt8] {
        var out = BinaryWriter()
        out.bytes(Self.binaryMagic)
        out.u32(Self.binaryLayout)
        out.u32(UInt32(clamping: version))
        out.string(user)
        out.string(sideA)
        out.string(sideB)
        out.u64(savedAt.timeIntervalSince1970.bitPattern)
        out.stamp(stampA)
        out.stamp(stampB)
        out.string(messagesFile)
        out.u64(UInt64(clamping: mailboxes))
        out.u64(UInt64(clamping: messages))
        out.buffer.append(generation == nil ? 0 : 1)
        if let generation { out.u64(UInt64(clamping: generation)) }
        out.u64(fnv1a(out.buffer[...]))
        return out.buffer
    }

    /// Whether `bytes` start like a binary header (else they are read as JSON).
    static func isBinary(_ bytes: [UInt8]) -> Bool { bytes.starts(with: binaryMagic) }

    /// Decodes a header.
    ///
    /// - Throws: ``DsyncError`` `badData` naming `path` for a wrong magic, a newer layout, a
    ///   bad checksum, a truncated file or trailing bytes.
    init(binary bytes: [UInt8], path: String) throws {
        func fail(_ why: String) -> DsyncError { DsyncError(.badData, "\(path): corrupt state: \(why)") }
        var (reader, _) = try BinaryReader.checked(bytes, path: path, magic: Self.binaryMagic, what: "state header", newest: Self.binaryLayout)
        guard let version = reader.u32(), let user = reader.string(), let sideA = reader.string(), let sideB = reader.string(),
              let savedAt = reader.u64(), let stampA = reader.stamp(), let stampB = reader.stamp(), let messagesFile = reader.string(),
              let mailboxes = reader.u64(), let messages = reader.u64(), let hasGeneration = reader.u8(), hasGeneration <= 1
        else { throw fail("truncated header") }
        var generation: Int?
        if hasGeneration == 1 {
            guard let value = reader.u64() else { throw fail("truncated generation") }
            generation = Int(clamping: value)
        }
        guard reader.offset == reader.end else { throw fail("trailing bytes") }
        self.init(
            version: Int(version), user: user, sideA: sideA, sideB: sideB,
            savedAt: Date(timeIntervalSince1970: Double(bitPattern: savedAt)), stampA: stampA, stampB: stampB,
            messagesFile: messagesFile, mailboxes: Int(clamping: mailboxes), messages: Int(clamping: messages), generation: generation)
    }
}

extension BinaryWriter {
    mutating func i64(_ value: Int64) { u64(UInt64(bitPattern: value)) }

    mutating func fileStamp(_ stamp: FileStamp?) {
        buffer.append(stamp == nil ? 0 : 1)
        guard let stamp else { return }
        u64(stamp.inode)
        i64(stamp.size)
        i64(stamp.seconds)
        i64(stamp.nanoseconds)
    }

    mutating func stamp(_ stamp: StoreStamp) {
        u32(UInt32(stamp.mailboxes.count))
        for name in stamp.mailboxes.keys.sorted() {
            let mailbox = stamp.mailboxes[name]!
            string(name)
            fileStamp(mailbox.cur)
            fileStamp(mailbox.new)
            fileStamp(mailbox.uidlist)
            fileStamp(mailbox.keywords)
        }
        fileStamp(stamp.subscriptions)
        i64(stamp.takenSeconds)
        i64(stamp.takenNanoseconds)
    }
}

extension BinaryReader {
    mutating func i64() -> Int64? { u64().map { Int64(bitPattern: $0) } }

    /// An optional file stamp: `.some(nil)` for one written as absent, nil when truncated.
    mutating func fileStamp() -> FileStamp?? {
        guard let present = u8(), present <= 1 else { return nil }
        guard present == 1 else { return .some(nil) }
        guard let inode = u64(), let size = i64(), let seconds = i64(), let nanoseconds = i64() else { return nil }
        return .some(FileStamp(inode: inode, size: size, seconds: seconds, nanoseconds: nanoseconds))
    }

    mutating func stamp() -> StoreStamp? {
        guard let count = u32() else { return nil }
        var mailboxes: [String: MailboxStamp] = [:]
        mailboxes.reserveCapacity(Int(min(count, 100_000)))
        for _ in 0..<count {
            guard let name = string(), let cur = fileStamp(), let cur, let new = fileStamp(), let new,
                  let uidlist = fileStamp(), let keywords = fileStamp()
            else { return nil }
            mailboxes[name] = MailboxStamp(cur: cur, new: new, uidlist: uidlist, keywords: keywords)
        }
        guard let subscriptions = fileStamp(), let seconds = i64(), let nanoseconds = i64() else { return nil }
        return StoreStamp(mailboxes: mailboxes, subscriptions: subscriptions, takenSeconds: seconds, takenNanoseconds: nanoseconds)
    }
}
