import Testing

@testable import MailStore

@Suite("UIDValidityAllocator")
struct UIDValidityAllocatorTests {
    static func hex8(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }

    @Test func firstValue_isTheCurrentTimeAndIsRecorded() throws {
        try ScratchDirectory.with { dir in
            let before = UInt32(POSIX.wallClock().seconds)
            let value = try UIDValidityAllocator(root: dir.path, owner: nil).next()
            let after = UInt32(POSIX.wallClock().seconds)
            #expect(value >= before && value <= after)
            #expect(try dir.readText("dovecot-uidvalidity") == Self.hex8(value))
            #expect(try dir.entries("") == ["dovecot-uidvalidity", "dovecot-uidvalidity." + Self.hex8(value)])
        }
    }

    @Test func laterValues_increaseByOneAndMoveTheCompanion() throws {
        try ScratchDirectory.with { dir in
            let allocator = UIDValidityAllocator(root: dir.path, owner: nil)
            let first = try allocator.next()
            let second = try allocator.next()
            let third = try allocator.next()
            #expect(second == first + 1)
            #expect(third == first + 2)
            #expect(try dir.readText("dovecot-uidvalidity") == Self.hex8(third))
            #expect(try dir.entries("") == ["dovecot-uidvalidity", "dovecot-uidvalidity." + Self.hex8(third)])
        }
    }

    @Test func existingMainFileWithoutCompanion_continuesFromItsValue() throws {
        try ScratchDirectory.with { dir in
            try dir.write("dovecot-uidvalidity", "6b0c51bf\n")
            let value = try UIDValidityAllocator(root: dir.path, owner: nil).next()
            #expect(value == 0x6b0c_51bf + 1)
            #expect(try dir.readText("dovecot-uidvalidity") == "6b0c51c0")
            #expect(dir.exists("dovecot-uidvalidity.6b0c51c0"))
            #expect(!dir.exists("dovecot-uidvalidity.6b0c51bf"))
        }
    }

    @Test func highestCompanion_winsOverTheMainFile() throws {
        // Dovecot may have moved the companion without us having seen the main file change.
        try ScratchDirectory.with { dir in
            try dir.write("dovecot-uidvalidity", "00000010")
            try dir.write("dovecot-uidvalidity.00000020", "")
            let value = try UIDValidityAllocator(root: dir.path, owner: nil).next()
            #expect(value == 0x21)
            #expect(try dir.readText("dovecot-uidvalidity") == "00000021")
        }
    }

    @Test func wrapAround_skipsZero() throws {
        try ScratchDirectory.with { dir in
            try dir.write("dovecot-uidvalidity", "ffffffff")
            try dir.write("dovecot-uidvalidity.ffffffff", "")
            #expect(try UIDValidityAllocator(root: dir.path, owner: nil).next() == 1)
        }
    }

    @Test func missingRoot_isNotFound() {
        let error = #expect(throws: MailStoreError.self) {
            try UIDValidityAllocator(root: "/nonexistent-duplex-root", owner: nil).next()
        }
        #expect(error?.code == .notFound)
    }
}
