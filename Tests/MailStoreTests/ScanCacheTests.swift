import Testing

@testable import MailStore

#if canImport(Glibc)
import Glibc
#endif

/// The scan cache may only ever save work: every listing must equal a listing without it.
@Suite struct ScanCacheTests {
    /// Saves `count` messages into INBOX (some flagged) and makes `new/` and `cur/` look
    /// untouched for a minute, so the next listing may write the cache.
    func makeAgedMailbox(_ scratch: ScratchDirectory, count: Int) throws -> MailStore {
        let store = try makeMailbox(scratch, count: count)
        try age(scratch)
        return store
    }

    /// Saves `count` messages into INBOX, just now; with `someSeen`, every third is \Seen.
    func makeMailbox(_ scratch: ScratchDirectory, count: Int, someSeen: Bool = true) throws -> MailStore {
        let store = scratch.store
        try store.createMailbox(.inbox)
        for number in 0..<count {
            let flags = someSeen && number % 3 == 0 ? try MessageFlags(parsing: ["\\Seen"]) : MessageFlags()
            try store.saveMessage(in: .inbox, bytes: sampleMessage(number), options: SaveOptions(flags: flags))
        }
        return store
    }

    func age(_ scratch: ScratchDirectory) throws {
        let past = Int(time(nil)) - 60
        try scratch.setModificationTime("cur", seconds: past)
        try scratch.setModificationTime("new", seconds: past)
    }

    /// The listing with the cache removed first.
    func uncachedListing(_ scratch: ScratchDirectory, _ store: MailStore) throws -> [MessageInfo] {
        try scratch.remove(ScanCache.fileName)
        return try store.listMessages(in: .inbox)
    }

    @Test func listingAnUnchangedMailbox_writesAndThenUsesTheCache() throws {
        try ScratchDirectory.with { scratch in
            let store = try makeAgedMailbox(scratch, count: 12)
            let first = try store.listMessages(in: .inbox)
            #expect(scratch.exists(ScanCache.fileName))
            // The cache loads for the current stamps and holds exactly the listed files.
            let directory = store.directory(.inbox)
            let uidlist = try scratch.uidlist()
            let status = try #require(try POSIX.readFileWithStatus(directory.uidlist)).status
            let stamps = ScanCache.Stamps(cur: try POSIX.status(directory.cur), new: try POSIX.status(directory.new), uidlist: status)
            let cached = try #require(ScanCache.load(directory, stamps: stamps, records: uidlist.records))
            #expect(cached.compactMap { $0?.fileName } == first.map(\.fileName))
            #expect(try store.listMessages(in: .inbox) == first)
        }
    }

    @Test func flagChangeAfterCaching_isSeen() throws {
        try ScratchDirectory.with { scratch in
            let store = try makeAgedMailbox(scratch, count: 6)
            _ = try store.listMessages(in: .inbox)
            #expect(scratch.exists(ScanCache.fileName))
            try store.updateFlags(in: .inbox, uids: [2], .add, try MessageFlags(parsing: ["\\Flagged", "$Label1"]))
            let listed = try store.listMessages(in: .inbox)
            #expect(listed.first { $0.uid == 2 }?.flags.imapNames == ["\\Flagged", "$Label1"])
            #expect(listed == (try uncachedListing(scratch, store)))
        }
    }

    @Test func externalRenameExpungeAndDelivery_afterCaching_areSeen() throws {
        try ScratchDirectory.with { scratch in
            let store = try makeAgedMailbox(scratch, count: 6)
            let before = try store.listMessages(in: .inbox)
            #expect(scratch.exists(ScanCache.fileName))
            // What another writer (Dovecot, an MDA) does, behind the store's back.
            let moved = before[0]
            let from = (moved.isInNew ? "new/" : "cur/") + moved.fileName
            #expect(rename(scratch.path(from), scratch.path("cur/" + moved.fileName.split(separator: ":")[0] + ":2,T")) == 0)
            let gone = before[1]
            #expect(unlink(scratch.path((gone.isInNew ? "new/" : "cur/") + gone.fileName)) == 0)
            try scratch.write("new/1800000000.M1P1.mda,S=3,W=3", Array("x\n\n".utf8))
            let after = try store.listMessages(in: .inbox)
            #expect(after.first { $0.uid == moved.uid }?.flags.system == [.deleted])
            #expect(!after.contains { $0.uid == gone.uid })
            #expect(after.last?.uid == 7)
            #expect(after.last?.guid == "1800000000.M1P1.mda,S=3,W=3")
            #expect(after == (try uncachedListing(scratch, store)))
        }
    }

    @Test func corruptOrForeignCache_isIgnored() throws {
        try ScratchDirectory.with { scratch in
            let store = try makeAgedMailbox(scratch, count: 5)
            let truth = try store.listMessages(in: .inbox)
            var bytes = try scratch.read(ScanCache.fileName)
            for garbage in [[UInt8](), Array("DXSC".utf8), Array(repeating: 0xff, count: 200)] {
                try scratch.write(ScanCache.fileName, garbage)
                #expect(try store.listMessages(in: .inbox) == truth)
            }
            // A flipped byte in the entries breaks the checksum.
            bytes[bytes.count - 20] ^= 0x5a
            try scratch.write(ScanCache.fileName, bytes)
            #expect(try store.listMessages(in: .inbox) == truth)
        }
    }

    func isConfirmed(_ scratch: ScratchDirectory) throws -> Bool {
        let bytes = try scratch.read(ScanCache.fileName)
        return bytes[4] == ScanCache.version && bytes[5] & 1 != 0
    }

    @Test func recentlyChangedDirectories_areCachedUnconfirmed_andConfirmedByTheirNames() throws {
        try ScratchDirectory.with { scratch in
            let store = try makeMailbox(scratch, count: 4, someSeen: false)
            let first = try store.listMessages(in: .inbox)
            // new/ changed this very second: the cache is written, but not trusted blindly.
            #expect(scratch.exists(ScanCache.fileName))
            #expect(try !isConfirmed(scratch))
            let directory = store.directory(.inbox)
            let stamps = try #require(try ScanCache.currentStamps(directory))
            // The same names are there: it is used.
            let cached = try #require(ScanCache.load(directory, stamps: stamps, records: try scratch.uidlist().records))
            #expect(cached.compactMap { $0?.fileName } == first.map(\.fileName))
            #expect(try store.listMessages(in: .inbox) == first)
        }
    }

    @Test func changeInTheSameClockTickAsTheListing_isSeen() throws {
        try ScratchDirectory.with { scratch in
            let store = try makeMailbox(scratch, count: 5, someSeen: false)
            let before = try store.listMessages(in: .inbox)
            #expect(scratch.exists(ScanCache.fileName))
            #expect(try !isConfirmed(scratch))
            // Another writer renames a file (a flag change) and removes one, and the clock has
            // not ticked: new/ and cur/ keep the modification times the cache recorded.
            let newTime = try scratch.modificationTimespec("new"), curTime = try scratch.modificationTimespec("cur")
            let moved = before[0], gone = before[1]
            #expect(rename(scratch.path((moved.isInNew ? "new/" : "cur/") + moved.fileName), scratch.path("cur/" + moved.fileName.split(separator: ":")[0] + ":2,S")) == 0)
            #expect(unlink(scratch.path((gone.isInNew ? "new/" : "cur/") + gone.fileName)) == 0)
            try scratch.setModificationTime("new", newTime)
            try scratch.setModificationTime("cur", curTime)
            let after = try store.listMessages(in: .inbox)
            #expect(after.first { $0.uid == moved.uid }?.flags.system == [.seen])
            #expect(!after.contains { $0.uid == gone.uid })
            #expect(after == (try uncachedListing(scratch, store)))
        }
    }

    @Test func unconfirmedCache_listedAgainAfterTheClockMovedOn_becomesConfirmed() throws {
        try ScratchDirectory.with { scratch in
            let store = try makeAgedMailbox(scratch, count: 6)
            let truth = try store.listMessages(in: .inbox)
            #expect(try isConfirmed(scratch))
            // The same cache as if written right after a change: unconfirmed.
            var bytes = try scratch.read(ScanCache.fileName)
            bytes[5] &= ~1
            bytes.replaceSubrange((bytes.count - 8)..., with: ScanCache.le64(ScanCache.fnv1a(bytes[0..<(bytes.count - 8)])))
            try scratch.write(ScanCache.fileName, bytes)
            #expect(try store.listMessages(in: .inbox) == truth)
            // The names matched and new/ and cur/ last changed a minute ago: confirmed now.
            #expect(try isConfirmed(scratch))
            #expect(try store.listMessages(in: .inbox) == truth)
        }
    }

    @Test func flagChangesExpungesAndSaves_carryTheCacheForward_andAnotherWritersChangeIsStillSeen() throws {
        try ScratchDirectory.with { scratch in
            let store = try makeAgedMailbox(scratch, count: 8)
            _ = try store.listMessages(in: .inbox)
            #expect(try isConfirmed(scratch))
            _ = try store.replaceFlagsThenExpunge(
                in: .inbox, [2: try MessageFlags(parsing: ["\\Flagged", "$Later"]), 5: MessageFlags()], expunging: [3])
            // Written as the change left the mailbox, to be checked against the names.
            #expect(try !isConfirmed(scratch))
            let directory = store.directory(.inbox)
            let uidlist = try scratch.uidlist()
            let stamps = try #require(try ScanCache.currentStamps(directory))
            let cached = try #require(ScanCache.load(directory, stamps: stamps, records: uidlist.records))
            let afterFlags = try uncachedListing(scratch, store)
            #expect(cached.compactMap { $0?.fileName } == afterFlags.map(\.fileName))
            // A save carries it forward too.
            _ = try store.replaceFlagsThenExpunge(in: .inbox, [1: try MessageFlags(parsing: ["\\Seen"])], expunging: [])
            let batch = try store.makeSaveBatch(in: .inbox)
            try batch.add(options: SaveOptions(flags: try MessageFlags(parsing: ["\\Answered"]))) { try $0.write(sampleMessage(100)) }
            try batch.add(options: SaveOptions()) { try $0.write(sampleMessage(101)) }
            _ = try batch.commit()
            let stampsAfterSave = try #require(try ScanCache.currentStamps(directory))
            let saved = try #require(ScanCache.load(directory, stamps: stampsAfterSave, records: try scratch.uidlist().records))
            let afterSave = try uncachedListing(scratch, store)
            #expect(saved.compactMap { $0?.fileName } == afterSave.map(\.fileName))
            #expect(afterSave.count == 9)
            // Another writer's rename in the same clock tick: the names no longer match.
            let listed = try uncachedListing(scratch, store)
            _ = try store.replaceFlagsThenExpunge(in: .inbox, [6: try MessageFlags(parsing: ["\\Draft"])], expunging: [])
            #expect(try !isConfirmed(scratch))
            let newTime = try scratch.modificationTimespec("new"), curTime = try scratch.modificationTimespec("cur")
            let moved = try #require(listed.first { $0.uid == 7 })
            #expect(rename(scratch.path((moved.isInNew ? "new/" : "cur/") + moved.fileName), scratch.path("cur/" + moved.fileName.split(separator: ":")[0] + ":2,T")) == 0)
            try scratch.setModificationTime("new", newTime)
            try scratch.setModificationTime("cur", curTime)
            let after = try store.listMessages(in: .inbox)
            #expect(after.first { $0.uid == 7 }?.flags.system == [.deleted])
            #expect(after == (try uncachedListing(scratch, store)))
        }
    }
}
