import Foundation
import MailStore
import MailStoreTestSupport
import Testing

@testable import Dsync

/// The state header's binary form: what is written is read back the same, a header in JSON
/// (as earlier versions wrote it) is still read, and any damage is refused with the file's
/// name rather than taken for a state.
@Suite("State header, binary form")
struct StateHeaderBinaryTests {
    static func stamp(_ seed: Int64, mailboxes: [String], subscriptions: Bool) -> StoreStamp {
        var stamps: [String: MailboxStamp] = [:]
        for (index, name) in mailboxes.enumerated() {
            let i = Int64(index)
            func file(_ part: Int64) -> FileStamp {
                FileStamp(inode: UInt64(seed * 1000 + i * 10 + part), size: part == 2 ? 4096 + i : 0, seconds: 1_796_015_522 + i, nanoseconds: 123_456_789 - i)
            }
            stamps[name] = MailboxStamp(cur: file(0), new: file(1), uidlist: index % 3 == 2 ? nil : file(2), keywords: index % 2 == 0 ? file(3) : nil)
        }
        return StoreStamp(
            mailboxes: stamps, subscriptions: subscriptions ? FileStamp(inode: 7, size: 12, seconds: -5, nanoseconds: 0) : nil,
            takenSeconds: 1_796_015_600 + seed, takenNanoseconds: 999_999_999)
    }

    static func header(generation: Int?) -> SyncState.Header {
        SyncState.Header(
            version: SyncState.currentVersion, user: "élise@example.com", sideA: "/srv/mail/élise", sideB: "tls://mail1b.example.com:12345",
            savedAt: Date(timeIntervalSince1970: 1_796_015_522.625), stampA: stamp(1, mailboxes: ["INBOX", "Archive/2025", "Ünïcode", ""], subscriptions: true),
            stampB: stamp(2, mailboxes: ["INBOX"], subscriptions: false), messagesFile: "x-0123456789abcdef.66179e55ca9b3.messages",
            mailboxes: 4, messages: 100_000, generation: generation)
    }

    static func expectSame(_ a: SyncState.Header, _ b: SyncState.Header) {
        #expect(a.version == b.version && a.user == b.user && a.sideA == b.sideA && a.sideB == b.sideB)
        #expect(a.savedAt == b.savedAt && a.stampA == b.stampA && a.stampB == b.stampB)
        #expect(a.messagesFile == b.messagesFile && a.mailboxes == b.mailboxes && a.messages == b.messages && a.generation == b.generation)
    }

    @Test(arguments: [nil, 1, 987_654_321] as [Int?])
    func whatIsWritten_isReadBackTheSame(generation: Int?) throws {
        let header = Self.header(generation: generation)
        let bytes = header.binaryEncoded()
        #expect(SyncState.Header.isBinary(bytes))
        Self.expectSame(try SyncState.Header(binary: bytes, path: "h"), header)
        #expect(header.binaryEncoded() == bytes, "the same header gives the same bytes (stamps in name order)")
    }

    @Test func aHeaderInJSON_fromAnEarlierVersion_isRead_andTheNextSaveWritesTheBinaryForm() throws {
        try TemporaryDirectory.with(prefix: "state-json") { directory in
            var header = Self.header(generation: 3)
            let store = SyncStateStore(directory: directory.path, user: header.user, sideA: header.sideA, sideB: header.sideB)
            header.messagesFile = store.key + ".66179e55ca9b3.messages"
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .iso8601
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            header.savedAt = Date(timeIntervalSince1970: 1_796_015_522)
            try encoder.encode(header).write(to: URL(fileURLWithPath: store.headerPath))
            Self.expectSame(try #require(try store.loadHeader()), header)

            try store.save(view: ReplicaView(), stampA: header.stampA, stampB: header.stampB, previous: header, generation: 4)
            let raw = [UInt8](try #require(FileManager.default.contents(atPath: store.headerPath)))
            #expect(SyncState.Header.isBinary(raw))
            let saved = try #require(try store.loadHeader())
            #expect(saved.generation == 4 && saved.stampA == header.stampA && saved.stampB == header.stampB && saved.messages == 0)
        }
    }

    @Test func everyFlippedByte_andEveryTruncation_isRefusedNamingTheFile() throws {
        let bytes = Self.header(generation: 5).binaryEncoded()
        for index in bytes.indices {
            var damaged = bytes
            damaged[index] ^= 0x5a
            let error = #expect(throws: DsyncError.self, "byte \(index)") { try SyncState.Header(binary: damaged, path: "/var/lib/duplex/x.state") }
            #expect(error?.code == .badData && error?.message.contains("/var/lib/duplex/x.state") == true)
        }
        for length in 0..<bytes.count {
            #expect(throws: DsyncError.self, "\(length) bytes") { try SyncState.Header(binary: Array(bytes.prefix(length)), path: "x.state") }
        }
        // A well-formed file of a later layout is refused, not misread.
        var later = bytes.dropLast(8) + []
        later[4] = 2
        var writer = BinaryWriter(buffer: Array(later))
        writer.u64(fnv1a(later[...]))
        let error = #expect(throws: DsyncError.self) { try SyncState.Header(binary: writer.buffer, path: "x.state") }
        #expect(error?.message.contains("layout") == true)
    }
}
