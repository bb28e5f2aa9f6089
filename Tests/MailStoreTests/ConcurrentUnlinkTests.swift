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
}
