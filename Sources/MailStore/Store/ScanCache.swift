/// A per-mailbox cache of where each uidlist record's file is (`new/` or `cur/`) and its
/// info part (`:2,<flags>`), so that a listing with nothing changed reads the uidlist and
/// this small file instead of listing `new/` and `cur/`.
///
/// The cache is trusted only while `new/`, `cur/` and the uidlist have exactly the
/// inode and modification time (nanoseconds) recorded in it, and the uidlist the same
/// size: any create, rename or unlink in `new/` or `cur/` changes the directory's
/// modification time, and any uidlist append or rewrite changes its size or inode. It is
/// only written for directories last changed more than a second before the scan began,
/// so a change within the same clock tick as the scan cannot hide. It is optional:
/// an unreadable, corrupt or outdated cache is ignored and rebuilt.
///
/// File `duplex-scan.cache` in the mailbox directory (Dovecot ignores files there that
/// do not start with `.`): magic `DXSC`, version 1, the three stamps, the record count,
/// one entry per uidlist record (state byte 0 = no file, 1 = `cur/`, 2 = `new/`; info
/// length; info bytes), and an FNV-1a 64 checksum of everything before it.
struct ScanCache {
    static let fileName = "duplex-scan.cache"
    static let magic: [UInt8] = Array("DXSC".utf8)
    static let version: UInt8 = 1

    /// The stamps that must match for the cache to be used.
    struct Stamps: Equatable {
        var cur: POSIX.FileStatus
        var new: POSIX.FileStatus
        var uidlist: POSIX.FileStatus

        static func == (a: Stamps, b: Stamps) -> Bool {
            MailStore.sameStamp(a.cur, b.cur) && MailStore.sameStamp(a.new, b.new)
                && MailStore.sameStamp(a.uidlist, b.uidlist) && a.uidlist.size == b.uidlist.size
        }
    }

    /// Loads the files of `records` from the cache, or nil when there is no valid cache.
    static func load(_ directory: MailboxDirectory, stamps: Stamps, records: [Uidlist.Record]) -> [ScannedFile?]? {
        guard let bytes = (try? POSIX.readFileIfExists(directory.path + "/" + fileName)) ?? nil else { return nil }
        guard bytes.count >= 4 + 4 + 10 * 8 + 4 + 8 else { return nil }
        var trailer = Reader(bytes: Array(bytes.suffix(8)))
        var reader = Reader(bytes: bytes)
        guard fnv1a(bytes[0..<(bytes.count - 8)]) == trailer.u64(),
              reader.bytes(4) == magic[...], reader.u8() == version
        else { return nil }
        reader.skip(3)
        let cached = Stamps(cur: reader.stamp(), new: reader.stamp(), uidlist: reader.uidlistStamp())
        guard cached == stamps, Int(reader.u32()) == records.count else { return nil }
        var files: [ScannedFile?] = []
        files.reserveCapacity(records.count)
        let end = bytes.count - 8
        for record in records {
            guard reader.offset + 2 <= end else { return nil }
            let state = reader.u8()
            let length = Int(reader.u8())
            guard reader.offset + length <= end, state <= 2 else { return nil }
            let info = reader.bytes(length)
            if state == 0 { files.append(nil); continue }
            var name = Array(record.baseName.utf8)
            name.append(contentsOf: info)
            let fileName = String(decoding: name, as: UTF8.self)
            guard let summary = try? name.withUnsafeBufferPointer({ try MaildirFileName.Summary(parsing: $0, original: fileName) }),
                  summary.baseLength == record.baseName.utf8.count
            else { return nil }
            files.append(ScannedFile(fileName: fileName, inNew: state == 2, summary: summary))
        }
        guard reader.offset == end else { return nil }
        return files
    }

    /// Writes the cache for `messages` (records with their files), best effort.
    static func store(
        _ directory: MailboxDirectory, stamps: Stamps, records: [Uidlist.Record], files: FileIndex, owner: FileOwner?
    ) {
        var out = magic
        out.append(version)
        out.append(contentsOf: [0, 0, 0])
        for status in [stamps.cur, stamps.new] {
            append64(&out, status.inode); append64(&out, UInt64(bitPattern: status.modificationSeconds))
            append64(&out, UInt64(bitPattern: status.modificationNanoseconds))
        }
        append64(&out, stamps.uidlist.inode); append64(&out, UInt64(stamps.uidlist.size))
        append64(&out, UInt64(bitPattern: stamps.uidlist.modificationSeconds))
        append64(&out, UInt64(bitPattern: stamps.uidlist.modificationNanoseconds))
        let count = UInt32(records.count)
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: count >> UInt32(shift))) }
        for record in records {
            guard let file = files[record.baseName] else { out.append(0); out.append(0); continue }
            let info = file.fileName.utf8.dropFirst(file.summary.baseLength)
            guard info.count <= 255 else { return }
            out.append(file.inNew ? 2 : 1)
            out.append(UInt8(info.count))
            out.append(contentsOf: info)
        }
        append64(&out, fnv1a(out[...]))
        try? POSIX.writeFileAtomically(directory.path + "/" + fileName, out, owner: owner, durable: false)
    }

    static func append64(_ out: inout [UInt8], _ value: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { out.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    static func fnv1a(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return hash
    }

    struct Reader {
        let bytes: [UInt8]
        var offset = 0
        init(bytes: [UInt8]) { self.bytes = bytes }
        mutating func u8() -> UInt8 { defer { offset += 1 }; return bytes[offset] }
        mutating func skip(_ count: Int) { offset += count }
        mutating func bytes(_ count: Int) -> ArraySlice<UInt8> { defer { offset += count }; return bytes[offset..<(offset + count)] }
        mutating func u32() -> UInt32 {
            var value: UInt32 = 0
            for shift in stride(from: 0, to: 32, by: 8) { value |= UInt32(u8()) << UInt32(shift) }
            return value
        }
        mutating func u64() -> UInt64 {
            var value: UInt64 = 0
            for shift in stride(from: 0, to: 64, by: 8) { value |= UInt64(u8()) << UInt64(shift) }
            return value
        }
        mutating func stamp() -> POSIX.FileStatus {
            let inode = u64(), seconds = Int64(bitPattern: u64()), nanoseconds = Int64(bitPattern: u64())
            return POSIX.FileStatus(size: 0, modificationSeconds: seconds, modificationNanoseconds: nanoseconds,
                                    mode: 0, userID: 0, groupID: 0, inode: inode, device: 0)
        }
        mutating func uidlistStamp() -> POSIX.FileStatus {
            let inode = u64(), size = Int64(bitPattern: u64())
            let seconds = Int64(bitPattern: u64()), nanoseconds = Int64(bitPattern: u64())
            return POSIX.FileStatus(size: size, modificationSeconds: seconds, modificationNanoseconds: nanoseconds,
                                    mode: 0, userID: 0, groupID: 0, inode: inode, device: 0)
        }
    }
}
