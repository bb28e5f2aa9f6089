#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Testing

@testable import MailStore

@Suite("Dotlock")
struct DotlockTests {
    /// What this process writes into a lock it holds.
    static var ownLockContent: String { "\(getpid()):\(POSIX.hostName)" }

    static let quick = DotlockConfiguration(staleAfter: .seconds(120), timeout: .milliseconds(200))

    @Test func heldLock_makesASecondAcquireTimeOut() throws {
        try ScratchDirectory.with { dir in
            let target = dir.path("dovecot-uidlist")
            try Dotlock.withLock(for: target, configuration: Self.quick) { lock in
                #expect(Dotlock.isHeld(target))
                #expect(lock.lockPath == target + ".lock")
                let content = try dir.readText("dovecot-uidlist.lock")
                #expect(content == Self.ownLockContent)
                let started = ContinuousClock.now
                let error = #expect(throws: MailStoreError.self) {
                    try Dotlock.withLock(for: target, configuration: Self.quick) { _ in }
                }
                let waited = ContinuousClock.now - started
                #expect(error?.code == .lockTimeout)
                #expect(error?.path == target + ".lock")
                // Never less than the timeout; which timeout it waited, its message says (the
                // time beyond it is the machine's). The bound only guards a hang: it stays below
                // the default 30 s, which an ignored configuration would wait.
                #expect(waited >= .milliseconds(200))
                #expect(error?.message == "timed out after \(Self.quick.timeout) waiting for the lock")
                #expect(waited < .seconds(25))
                // The holder's lock survives the failed attempt.
                #expect(Dotlock.isHeld(target))
            }
            #expect(!Dotlock.isHeld(target))
            #expect(!dir.exists("dovecot-uidlist"))
        }
    }

    @Test func lockReleasedOnThrow_isRemoved() throws {
        try ScratchDirectory.with { dir in
            let target = dir.path("subscriptions")
            struct Boom: Error {}
            #expect(throws: Boom.self) {
                try Dotlock.withLock(for: target, configuration: Self.quick) { _ in throw Boom() }
            }
            #expect(!Dotlock.isHeld(target))
            // And it can be taken again at once.
            try Dotlock.withLock(for: target, configuration: Self.quick) { _ in }
        }
    }

    @Test func lockOlderThanStaleAfter_isTakenOver() throws {
        try ScratchDirectory.with { dir in
            let target = dir.path("dovecot-uidlist")
            // A live pid (ours) on another host: only the age can make it stale.
            try dir.write("dovecot-uidlist.lock", "1:some-other-host")
            try dir.setModificationTime("dovecot-uidlist.lock", seconds: Int(POSIX.wallClock().seconds) - 600)
            let configuration = DotlockConfiguration(staleAfter: .seconds(120), timeout: .milliseconds(200))
            try Dotlock.withLock(for: target, configuration: configuration) { _ in
                let content = try dir.readText("dovecot-uidlist.lock")
                #expect(content == Self.ownLockContent)
            }
            #expect(!Dotlock.isHeld(target))
        }
    }

    @Test func freshLockOfAnotherHost_isNotTakenOver() throws {
        try ScratchDirectory.with { dir in
            let target = dir.path("dovecot-uidlist")
            try dir.write("dovecot-uidlist.lock", "1:some-other-host")
            let error = #expect(throws: MailStoreError.self) {
                try Dotlock.withLock(for: target, configuration: Self.quick) { _ in }
            }
            #expect(error?.code == .lockTimeout)
            #expect(try dir.readText("dovecot-uidlist.lock") == "1:some-other-host")
        }
    }

    @Test func lockNamingDeadProcessOnThisHost_isTakenOver() throws {
        try ScratchDirectory.with { dir in
            let target = dir.path("dovecot-keywords")
            let deadPID = try #require(Self.unusedProcessID())
            try dir.write("dovecot-keywords.lock", "\(deadPID):\(POSIX.hostName)")
            try Dotlock.withLock(for: target, configuration: Self.quick) { _ in
                let content = try dir.readText("dovecot-keywords.lock")
                #expect(content == Self.ownLockContent)
            }
        }
    }

    @Test func lockNamingLiveProcessOnThisHost_isNotTakenOver() throws {
        try ScratchDirectory.with { dir in
            let target = dir.path("dovecot-keywords")
            // pid 1 always exists.
            try dir.write("dovecot-keywords.lock", "1:\(POSIX.hostName)")
            let error = #expect(throws: MailStoreError.self) {
                try Dotlock.withLock(for: target, configuration: Self.quick) { _ in }
            }
            #expect(error?.code == .lockTimeout)
        }
    }

    @Test func replaceTarget_publishesContentAtomicallyAndReleasesTheLock() throws {
        try ScratchDirectory.with { dir in
            let target = dir.path("subscriptions")
            try dir.write("subscriptions", "old\n")
            try Dotlock.withLock(for: target, configuration: Self.quick) { lock in
                var oldStatus = stat()
                #expect(stat(target, &oldStatus) == 0)
                // While the lock is held it names its holder, so a crash leaves a lock that
                // is stale at once.
                #expect(try dir.readText("subscriptions.lock") == "\(getpid()):\(POSIX.hostName)")
                try lock.replaceTarget(with: Array("V\t2\n\nSent\n".utf8), fsync: true)
                #expect(try dir.readText("subscriptions") == "V\t2\n\nSent\n")
                #expect(!Dotlock.isHeld(target))
                // A new file renamed into place: readers saw either the old or the new one.
                var targetStatus = stat()
                #expect(stat(target, &targetStatus) == 0)
                #expect(targetStatus.st_ino != oldStatus.st_ino)
            }
            #expect(try dir.readText("subscriptions") == "V\t2\n\nSent\n")
            #expect(try dir.entries("") == ["subscriptions"])
        }
    }

    @Test func replaceTarget_overwritesWhatTheLockFileHeld() throws {
        try ScratchDirectory.with { dir in
            let target = dir.path("dovecot-uidlist")
            try Dotlock.withLock(for: target, configuration: Self.quick) { lock in
                // The lock file holds "<pid>:<host>"; a shorter content must not keep its tail.
                try lock.replaceTarget(with: Array("x\n".utf8), fsync: false)
            }
            #expect(try dir.readText("dovecot-uidlist") == "x\n")
        }
    }

    @Test func lockTakenOverMeanwhile_isNotRemovedByTheOldHolder() throws {
        try ScratchDirectory.with { dir in
            let target = dir.path("dovecot-uidlist")
            try Dotlock.withLock(for: target, configuration: Self.quick) { _ in
                // Someone decided our lock was stale and took it.
                #expect(unlink(target + ".lock") == 0)
                try dir.write("dovecot-uidlist.lock", "1:other-host")
            }
            #expect(try dir.readText("dovecot-uidlist.lock") == "1:other-host")
        }
    }

    @Test func lockInMissingDirectory_failsWithNotFound() {
        let error = #expect(throws: MailStoreError.self) {
            try Dotlock.withLock(for: "/nonexistent-duplex-dir/dovecot-uidlist", configuration: Self.quick) { _ in }
        }
        #expect(error?.code == .notFound)
        #expect(error?.path == "/nonexistent-duplex-dir/dovecot-uidlist.lock")
    }

    /// A process id that no process has right now (searched down from the top of the range).
    static func unusedProcessID() -> Int32? {
        var candidate: Int32 = 4_194_303
        if let bytes = try? readFile("/proc/sys/kernel/pid_max"),
           let max = Int32(String(decoding: bytes, as: UTF8.self).trimmingSpaces) {
            candidate = max - 1
        }
        for pid in stride(from: candidate, to: max(candidate - 10_000, 2), by: -1) {
            if kill(pid, 0) != 0 && errno == ESRCH { return pid }
        }
        return nil
    }
}
