#if canImport(Glibc)
import Glibc
#endif
import Testing

@testable import MailStore

@Suite("Removing files several at a time")
struct ConcurrentUnlinkTests {
    @Test(arguments: [0, 1, 3, 40])
    func everyFileIsRemoved_andEachResultIsInTheOrderOfThePaths(count: Int) throws {
        try ScratchDirectory.with { dir in
            var paths: [String] = []
            for index in 0..<count {
                let path = dir.path("f\(index)")
                // Every third one never existed: its result is ENOENT, the others 0.
                if index % 3 != 1 { try POSIX.writeFileAtomically(path, [UInt8(index & 0xff)], owner: nil, durable: false) }
                paths.append(path)
            }
            let results = POSIX.unlinkConcurrently(paths, threads: 8)
            #expect(results == (0..<count).map { $0 % 3 == 1 ? ENOENT : 0 })
            #expect(paths.allSatisfy { !POSIX.exists($0) })
        }
    }

    @Test func expungingManyMessagesAtOnce_removesExactlyThose_andCompactsTheUidlist() throws {
        try MailStoreMessagesTests.withBox { dir, store in
            let box = MailStoreMessagesTests.box
            for number in 1...40 { try store.saveMessage(in: box, bytes: sampleMessage(number)) }
            let wanted = Array(stride(from: 2, through: 40, by: 2)).map(UInt32.init) + [41, 99]
            #expect(try store.expunge(in: box, uids: wanted) == Array(stride(from: 2, through: 40, by: 2)).map(UInt32.init))
            #expect(try store.listMessages(in: box).map(\.uid) == Array(stride(from: 1, through: 39, by: 2)).map(UInt32.init))
            // Half of the records lost their file: the uidlist is compacted, the next UID kept.
            #expect(try dir.uidlist(".Box").records.map(\.uid) == Array(stride(from: 1, through: 39, by: 2)).map(UInt32.init))
            #expect(try store.status(of: box).uidNext == 41)
            #expect(try store.expunge(in: box, uids: wanted) == [])
        }
    }

    @Test func flagsThenExpunge_onOneListing_setExactlyTheExpectedOnes_andRemoveExactlyTheOthers() throws {
        try MailStoreMessagesTests.withBox { dir, store in
            let box = MailStoreMessagesTests.box
            for number in 1...8 { try store.saveMessage(in: box, bytes: sampleMessage(number)) }
            let seen = MessageFlags(system: .seen)
            // Someone (Dovecot) flags 3 after the caller read it unflagged: 3 is left alone.
            try store.updateFlags(in: box, uids: [3], .replace, MessageFlags(system: .flagged))
            let flags: [UInt32: MessageFlags] = [1: seen, 2: MessageFlags(system: .answered, keywords: ["Work"]), 3: seen, 7: seen]
            let expecting: [UInt32: MessageFlags] = [1: MessageFlags(), 2: MessageFlags(), 3: MessageFlags(), 7: MessageFlags()]
            // 7 gets flags and is expunged as well: its renamed file is found and removed; 42 does not exist.
            let done = try store.replaceFlagsThenExpunge(in: box, flags, expecting: expecting, expunging: [4, 5, 7, 42])
            #expect(done.flagged == [1, 2, 7] && done.expunged == [4, 5, 7])
            let listed = try store.listMessages(in: box)
            #expect(listed.map(\.uid) == [1, 2, 3, 6, 8])
            #expect(listed.map(\.flags) == [seen, MessageFlags(system: .answered, keywords: ["Work"]), MessageFlags(system: .flagged), MessageFlags(), MessageFlags()])
            #expect(try store.status(of: box).uidNext == 9)
            // Nothing to flag: only the expunge; nothing to expunge: only the flags.
            #expect(try store.replaceFlagsThenExpunge(in: box, [:], expunging: [6]) == ([], [6]))
            #expect(try store.replaceFlagsThenExpunge(in: box, [8: seen], expunging: []) == ([8], []))
            #expect(try store.listMessages(in: box).map(\.uid) == [1, 2, 3, 8])
            _ = dir
        }
    }
}
