#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A per-mailbox cache of where each uidlist record's file is (`new/` or `cur/`), its info
/// part (`:2,<flags>`) and the sizes in its base name, so that a listing with nothing
/// changed reads the uidlist and this small file instead of listing and parsing `new/` and
/// `cur/`.
///
/// The cache is trusted only while `new/`, `cur/` and the uidlist have exactly the inode
/// and modification time (nanoseconds) recorded in it, and the uidlist the same size: any
/// create, rename or unlink in `new/` or `cur/` changes the directory's modification time,
/// and any uidlist append or rewrite changes its size or inode.
///
/// A modification time only moves on with the clock's tick, so a change made in the same
/// tick as the listing the cache was written from can leave it unchanged. A cache written
/// from directories last changed more than a second before that listing began is
/// **confirmed**: no such change can hide, and it is used as it is. Otherwise (a mailbox
/// read right after a change, as a sync's check after applying does) it is **unconfirmed**:
/// before it is used, `new/` and `cur/` are listed once more, without parsing, and the
/// number of names and an order-independent digest of them (``NamesDigest``) must equal the
/// ones recorded. A listing that confirms it more than a second after the last change makes
/// it confirmed. A change Duplex makes to a mailbox it has just listed (flag changes and
/// expunges, new messages committed) writes the cache as it left the mailbox, unconfirmed:
/// the check after a sync's apply then compares names instead of parsing them all again, and
/// another writer's change meanwhile fails that comparison. The cache is optional: an
/// unreadable, corrupt or outdated cache is ignored and rebuilt.
///
/// File `duplex-scan.cache` in the mailbox directory (Dovecot ignores files there that
/// do not start with `.`), little-endian: magic `DXSC`, version 2, a flags byte (bit 0:
/// confirmed), two zero bytes, the three stamps, the record count (u32), the names'
/// count (u32) and digest (two u64), one entry per uidlist record (state byte 0 = no file,
/// 1 = `cur/`, 2 = `new/`; info length; info bytes; `,S=` and `,W=` each as a LEB128
/// number, the value plus one, 0 when absent), and an FNV-1a 64 checksum of everything
/// before it.
struct ScanCache {
    static let fileName = "duplex-scan.cache"
    static let magic: [UInt8] = Array("DXSC".utf8)
    static let version: UInt8 = 2

    /// The stamps that must match for the cache to be used.
    struct Stamps: Equatable {
        var cur: POSIX.FileStatus
        var new: POSIX.FileStatus
        var uidlist: POSIX.FileStatus

        static func == (a: Stamps, b: Stamps) -> Bool {
            MailStore.sameStamp(a.cur, b.cur) && MailStore.sameStamp(a.new, b.new)
                && MailStore.sameStamp(a.uidlist, b.uidlist) && a.uidlist.size == b.uidlist.size
        }

        /// Whether `new/` and `cur/` last changed more than a second before `seconds` (the
        /// start of the listing): a later change then moves their modification time on.
        func settled(before seconds: Int64) -> Bool {
            cur.modificationSeconds < seconds - 1 && new.modificationSeconds < seconds - 1
        }
    }

    /// The file names of `new/` and `cur/`, as a count and two sums of a 64-bit hash of each
    /// name with its directory: equal for the same names in any order, and for different
    /// names only by a chance of about 2^-64.
    struct NamesDigest: Equatable {
        var count: UInt32 = 0
        var sum: UInt64 = 0
        var mixedSum: UInt64 = 0

        mutating func add(_ name: UnsafeBufferPointer<UInt8>, inNew: Bool) {
            var hash: UInt64 = inNew ? 0x84222325cbf29ce4 : 0xcbf2_9ce4_8422_2325
            for byte in name {
                hash ^= UInt64(byte)
                hash = hash &* 0x100_0000_01b3
            }
            count &+= 1
            sum &+= hash
            // splitmix64's finalizer: a second, differently mixed sum.
            var mixed = hash &+ 0x9e37_79b9_7f4a_7c15
            mixed = (mixed ^ (mixed >> 30)) &* 0xbf58_476d_1ce4_e5b9
            mixed = (mixed ^ (mixed >> 27)) &* 0x94d0_49bb_1331_11eb
            mixedSum &+= mixed ^ (mixed >> 31)
        }

        /// The names in `new/` and `cur/` now, without parsing them (dot files and
        /// directories left out, as a scan leaves them out).
        static func listing(_ directory: MailboxDirectory) throws -> NamesDigest {
            var digest = NamesDigest()
            for (path, inNew) in [(directory.new, true), (directory.cur, false)] {
                try POSIX.forEachDirectoryEntry(path) { name, type in
                    if name.first == UInt8(ascii: ".") || type == UInt8(DT_DIR) { return }
                    digest.add(name, inNew: inNew)
                }
            }
            return digest
        }
    }

    /// Loads the files of `records` from the cache, or nil when there is no valid cache (or
    /// an unconfirmed one whose names are not those in `new/` and `cur/` now).
    ///
    /// - Parameters:
    ///   - owner: who a cache confirmed here is rewritten for (running as root).
    ///   - confirmingNames: false for a writer that only carries the cache forward
    ///     (``storeAfterChange(_:records:files:owner:)``): the cache it writes is unconfirmed
    ///     and checked against the names when it is next loaded.
    static func load(
        _ directory: MailboxDirectory, stamps: Stamps, records: [Uidlist.Record], owner: @autoclosure () -> FileOwner? = nil,
        confirmingNames: Bool = true
    ) -> [ScannedFile?]? {
        guard let bytes = (try? POSIX.readFileIfExists(directory.path + "/" + fileName)) ?? nil else { return nil }
        guard bytes.count >= 4 + 4 + 10 * 8 + 4 + 4 + 2 * 8 + 8 else { return nil }
        var trailer = Reader(bytes: Array(bytes.suffix(8)))
        var reader = Reader(bytes: bytes)
        guard fnv1a(bytes[0..<(bytes.count - 8)]) == trailer.u64(),
              reader.bytes(4) == magic[...], reader.u8() == version
        else { return nil }
        let confirmed = reader.u8() & 1 != 0
        reader.skip(2)
        let cached = Stamps(cur: reader.stamp(), new: reader.stamp(), uidlist: reader.uidlistStamp())
        guard cached == stamps, Int(reader.u32()) == records.count else { return nil }
        let names = NamesDigest(count: reader.u32(), sum: reader.u64(), mixedSum: reader.u64())
        var files: [ScannedFile?] = []
        files.reserveCapacity(records.count)
        let end = bytes.count - 8
        for record in records {
            guard reader.offset + 2 <= end else { return nil }
            let state = reader.u8()
            let length = Int(reader.u8())
            guard reader.offset + length <= end, state <= 2 else { return nil }
            let infoStart = reader.offset
            reader.skip(length)
            guard let size = reader.leb128(end: end), let virtualSize = reader.leb128(end: end) else { return nil }
            if state == 0 { files.append(nil); continue }
            guard let file = bytes.withUnsafeBufferPointer({ buffer in
                scannedFile(record, info: UnsafeBufferPointer(rebasing: buffer[infoStart..<(infoStart + length)]),
                            size: size, virtualSize: virtualSize, inNew: state == 2)
            }) else { return nil }
            files.append(file)
        }
        guard reader.offset == end else { return nil }
        if !confirmed && confirmingNames {
            let listingStart = POSIX.wallClock()
            guard let now = try? NamesDigest.listing(directory), now == names else { return nil }
            if stamps.settled(before: listingStart.seconds) {
                // Nothing can hide any more: the next load need not list again.
                var confirmedBytes = bytes
                confirmedBytes[5] |= 1
                confirmedBytes.replaceSubrange((bytes.count - 8)..., with: le64(fnv1a(confirmedBytes[0..<(bytes.count - 8)])))
                try? POSIX.writeFileAtomically(directory.path + "/" + fileName, confirmedBytes, owner: owner(), durable: false)
            }
        }
        return files
    }

    /// The file of `record` with the cached info part and sizes, its name built in one
    /// allocation; nil when the info part is bad (a corrupt cache).
    private static func scannedFile(
        _ record: Uidlist.Record, info: UnsafeBufferPointer<UInt8>, size: Int64?, virtualSize: Int64?, inNew: Bool
    ) -> ScannedFile? {
        var base = record.baseName
        let fileName = base.withUTF8 { base in
            String(unsafeUninitializedCapacity: base.count + info.count) { buffer in
                _ = buffer.initialize(fromContentsOf: base)
                _ = UnsafeMutableBufferPointer(rebasing: buffer[base.count...]).initialize(fromContentsOf: info)
                return base.count + info.count
            }
        }
        guard let summary = try? MaildirFileName.Summary(baseLength: record.baseName.utf8.count, size: size, virtualSize: virtualSize, info: info)
        else { return nil }
        return ScannedFile(fileName: fileName, inNew: inNew, summary: summary)
    }

    /// Writes the cache for `records`, best effort. `files[i]` is record `i`'s file (nil:
    /// none), and they are every file of the mailbox; `confirmed`: the listing began more
    /// than a second after `new/` and `cur/` last changed.
    static func store(
        _ directory: MailboxDirectory, stamps: Stamps, records: [Uidlist.Record], files: [ScannedFile?], confirmed: Bool, owner: FileOwner?
    ) {
        guard records.count == files.count else { return }
        var out = magic
        out.reserveCapacity(128 + records.count * 8)
        out.append(version)
        out.append(contentsOf: [confirmed ? 1 : 0, 0, 0])
        for status in [stamps.cur, stamps.new] {
            append64(&out, status.inode); append64(&out, UInt64(bitPattern: status.modificationSeconds))
            append64(&out, UInt64(bitPattern: status.modificationNanoseconds))
        }
        append64(&out, stamps.uidlist.inode); append64(&out, UInt64(stamps.uidlist.size))
        append64(&out, UInt64(bitPattern: stamps.uidlist.modificationSeconds))
        append64(&out, UInt64(bitPattern: stamps.uidlist.modificationNanoseconds))
        append32(&out, UInt32(records.count))
        let digestAt = out.count
        out.append(contentsOf: repeatElement(0, count: 4 + 16))
        var names = NamesDigest()
        for file in files {
            guard let file else {
                out.append(contentsOf: [0, 0, 0, 0])
                continue
            }
            var fileName = file.fileName
            let fits = fileName.withUTF8 { name -> Bool in
                names.add(name, inNew: file.inNew)
                let info = UnsafeBufferPointer(rebasing: name[file.summary.baseLength...])
                guard info.count <= 255 else { return false }
                out.append(file.inNew ? 2 : 1)
                out.append(UInt8(info.count))
                out.append(contentsOf: info)
                return true
            }
            guard fits else { return }
            appendLEB128(&out, file.summary.size.map { UInt64($0) + 1 } ?? 0)
            appendLEB128(&out, file.summary.virtualSize.map { UInt64($0) + 1 } ?? 0)
        }
        var digest: [UInt8] = []
        append32(&digest, names.count)
        append64(&digest, names.sum)
        append64(&digest, names.mixedSum)
        out.replaceSubrange(digestAt..<(digestAt + 20), with: digest)
        append64(&out, fnv1a(out[...]))
        try? POSIX.writeFileAtomically(directory.path + "/" + fileName, out, owner: owner, durable: false)
    }

    /// Writes the cache as a change this process just made left the mailbox: `files[i]` is
    /// record `i`'s file (nil: none), the stamps are taken now. It is unconfirmed, so it is
    /// used only after a listing of the names matches it: another writer's change made
    /// meanwhile, even in the same clock tick, makes the next load list and parse the
    /// directories instead. Best effort.
    static func storeAfterChange(_ directory: MailboxDirectory, records: [Uidlist.Record], files: [ScannedFile?], owner: FileOwner?) {
        guard !records.isEmpty, let stamps = try? currentStamps(directory) else { return }
        store(directory, stamps: stamps, records: records, files: files, confirmed: false, owner: owner)
    }

    /// The stamps of `new/`, `cur/` and the uidlist now; nil without a uidlist.
    static func currentStamps(_ directory: MailboxDirectory) throws -> Stamps? {
        guard let uidlist = try POSIX.statusIfExists(directory.uidlist) else { return nil }
        return Stamps(cur: try POSIX.status(directory.cur), new: try POSIX.status(directory.new), uidlist: uidlist)
    }

    static func append32(_ out: inout [UInt8], _ value: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }

    static func append64(_ out: inout [UInt8], _ value: UInt64) {
        out.append(contentsOf: le64(value))
    }

    static func le64(_ value: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> UInt64($0 * 8)) }
    }

    static func appendLEB128(_ out: inout [UInt8], _ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        out.append(UInt8(rest))
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
        /// A size stored as LEB128 of the value plus one: nil (a corrupt cache) when it runs
        /// past `end` or is too long; `.some(nil)` for an absent size.
        mutating func leb128(end: Int) -> Int64?? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard offset < end, shift < 63 else { return nil }
                let byte = u8()
                value |= UInt64(byte & 0x7f) << shift
                if byte & 0x80 == 0 { break }
                shift += 7
            }
            guard value <= UInt64(Int64.max) else { return nil }
            return .some(value == 0 ? nil : Int64(value - 1))
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
