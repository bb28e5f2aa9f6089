import Foundation
import Logging
import MailStore
import MailStoreTestSupport
import Synchronization
import Testing

@testable import Dsync

/// The user's sync lock against real processes: holders started as shells that `flock`
/// the file and write their record, children that inherit the descriptor after the
/// recorded holder is gone, pids reused, files replaced under a waiter.
@Suite struct UserLockTests {
    /// Whether a lock's body ran.
    final class Flag: Sendable {
        private let value = Mutex(false)
        func set() { value.withLock { $0 = true } }
        var isSet: Bool { value.withLock { $0 } }
    }

    /// Log lines, to see that a broken lock is reported.
    final class RecordedLog: Sendable {
        let lines = Mutex<[String]>([])
        var logger: Logger {
            Logger(label: "lock-test") { _ in RecordingHandler(log: self) }
        }
    }

    struct RecordingHandler: LogHandler {
        let log: RecordedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            log.lines.withLock { $0.append("\(event.level) \(event.message) \(all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })") }
        }
    }

    /// A mail root `alice/Maildir` in `directory` (its lock lives in `alice/`).
    func replica(_ directory: TemporaryDirectory, log: RecordedLog = RecordedLog()) throws -> LocalReplica {
        try FileManager.default.createDirectory(atPath: directory.appending("alice"), withIntermediateDirectories: true)
        return LocalReplica(store: MailStore(root: directory.appending("alice/Maildir")), logger: log.logger)
    }

    static let host = (try? String(contentsOfFile: "/proc/sys/kernel/hostname", encoding: .utf8))?
        .trimmingCharacters(in: .whitespacesAndNewlines) ?? "localhost"

    /// A shell that locks `$1` on descriptor 9 (inheritable, as `flock(1)` users do),
    /// writes a holder record (`pid`, `host`, optional `process_start` from the variables
    /// HOST and START) and prints `locked`, then runs `then`.
    static func holderScript(then: String) -> String {
        """
        exec 9<>"$1" || exit 1
        flock -x 9 || exit 1
        printf 'duplex-sync-lock 1\\npid %s\\nhost %s\\n' "$$" "${HOST}" >&9
        [ -n "$START" ] && printf 'process_start %s\\n' "$START" >&9
        printf 'since %s\\n' "$(date +%s)" >&9
        echo locked
        \(then)
        """
    }

    func startHolder(_ directory: TemporaryDirectory, lock: String, host: String = UserLockTests.host, start: String = "", then: String) async throws
        -> BackgroundCommand
    {
        let holder = try BackgroundCommand(
            "/bin/sh", ["-c", "HOST='\(host)' START='\(start)'; " + Self.holderScript(then: then), "holder", lock],
            outputDirectory: directory.path)
        let locked = await holder.waitForOutput(within: .seconds(60)) { stdout, _ in stdout.contains("locked") }
        try #require(locked, "the holder took the lock: \(holder.stderr)")
        return holder
    }

    func inode(_ path: String) -> UInt64? {
        var status = stat()
        return stat(path, &status) == 0 ? UInt64(status.st_ino) : nil
    }

    func isTaken(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return flock(fd, LOCK_EX | LOCK_NB) != 0
    }

    // MARK: Stale locks

    @Test func aLockKeptOnlyByAChildOfItsGoneHolder_isBroken_logged_andANewFileLocked() async throws {
        try await TemporaryDirectory.with(prefix: "duplex-lock") { directory in
            let log = RecordedLog()
            let replica = try replica(directory, log: log)
            let lock = replica.lockPath
            // The holder leaves a sleeping child with its descriptor, then exits.
            let holder = try await startHolder(directory, lock: lock, then: "sleep 300 </dev/null >/dev/null 2>&1 & echo child $!")
            #expect(await holder.exitStatus(within: .seconds(60)) == 0)
            let child = try #require(holder.stdout.split(separator: "\n").first { $0.hasPrefix("child ") }.flatMap { Int32($0.dropFirst(6)) })
            defer { kill(child, SIGKILL) }
            let recorded = try #require(UserLockHolder(parsing: try String(contentsOfFile: lock, encoding: .utf8)))
            #expect(recorded.pid == holder.pid && recorded.host == Self.host)
            #expect(isTaken(lock), "the child still holds the flock of its gone parent")
            let orphan = inode(lock)

            let inside = try await replica.withUserLock(timeout: .seconds(60)) { () -> UserLockHolder? in
                #expect(inode(lock) != orphan, "a fresh file, not the orphan")
                return UserLockHolder(parsing: (try? String(contentsOfFile: lock, encoding: .utf8)) ?? "")
            }
            #expect(inside?.pid == getpid())
            #expect(inside?.host == Self.host)
            #expect(inside?.processStart == UserLockHolder.processStart(of: getpid()))
            let warnings = log.lines.withLock { $0 }.filter { $0.hasPrefix("warning broke a stale sync lock") }
            #expect(warnings.count == 1)
            #expect(warnings.first?.contains("holder=pid \(holder.pid) on \(Self.host) since ") == true, "\(warnings)")
            // The file stays (nothing freed), its record blanked: no holder is named, and the
            // next sync takes the lock at once.
            #expect(inode(lock) != nil && inode(lock) != orphan)
            let left = try String(contentsOfFile: lock, encoding: .utf8)
            #expect(UserLockHolder(parsing: left) == nil && left.allSatisfy { $0 == "\n" }, "\(left.debugDescription)")
            #expect(!isTaken(lock))
            let again = try await replica.withUserLock(timeout: .seconds(5)) { getpid() }
            #expect(again == getpid())
            #expect(log.lines.withLock { $0 }.filter { $0.hasPrefix("warning broke a stale sync lock") }.count == 1, "no lock broken the second time")
        }
    }

    @Test func aRecordedPidNowUsedByAnotherProcess_countsAsGone() async throws {
        try await TemporaryDirectory.with(prefix: "duplex-lock") { directory in
            let log = RecordedLog()
            let replica = try replica(directory, log: log)
            // The record names the running sleeper's pid, with another process start: the
            // process that wrote it is gone and its pid went to a later one.
            let holder = try await startHolder(directory, lock: replica.lockPath, start: "1", then: "exec sleep 300")
            defer { _ = holder.stop(timeout: 10) }
            #expect(UserLockHolder.processStart(of: holder.pid) != 1)
            try await replica.withUserLock(timeout: .seconds(60)) {}
            #expect(log.lines.withLock { $0 }.contains { $0.contains("broke a stale sync lock") && $0.contains("pid \(holder.pid) ") })
        }
    }

    // MARK: Locks that stay

    @Test func aLiveHolder_isNeverBroken_andTheTimeoutNamesIt() async throws {
        try await TemporaryDirectory.with(prefix: "duplex-lock") { directory in
            let log = RecordedLog()
            let replica = try replica(directory, log: log)
            let holder = try await startHolder(directory, lock: replica.lockPath, then: "exec sleep 300")
            defer { _ = holder.stop(timeout: 10) }
            let ran = Flag()
            await #expect {
                try await replica.withUserLock(timeout: .milliseconds(300)) { ran.set() }
            } throws: { error in
                guard let error = error as? DsyncError, error.code == .lockTimeout else { return false }
                return error.message.contains("\(replica.lockPath): another sync of this user holds the lock")
                    && error.message.contains("held by pid \(holder.pid) on \(Self.host) since 20")
            }
            #expect(!ran.isSet)
            #expect(log.lines.withLock { $0 }.isEmpty, "nothing broken")
            #expect(isTaken(replica.lockPath))
        }
    }

    @Test func aHolderOnAnotherHost_isNeverBroken_evenWithAPidUnusedHere() async throws {
        try await TemporaryDirectory.with(prefix: "duplex-lock") { directory in
            let replica = try replica(directory)
            let holder = try await startHolder(directory, lock: replica.lockPath, host: "mail-b.example.com", then: "exec sleep 300")
            defer { _ = holder.stop(timeout: 10) }
            await #expect {
                try await replica.withUserLock(timeout: .milliseconds(300)) {}
            } throws: { error in
                (error as? DsyncError)?.message.contains("held by pid \(holder.pid) on mail-b.example.com since ") == true
            }
        }
    }

    @Test func aWaiterWhoseFileIsReplaced_neverTrustsTheOldFile_andWaitsForTheNewHolder() async throws {
        try await TemporaryDirectory.with(prefix: "duplex-lock") { directory in
            let replica = try replica(directory)
            let lock = replica.lockPath
            let first = try await startHolder(directory, lock: lock, then: "exec sleep 300")
            let ran = Flag()
            let waiter = Task {
                try await replica.withUserLock(timeout: .seconds(5)) { ran.set() }
            }
            // Meanwhile another process puts a new lock file in place (atomically, by
            // rename), and the first holder goes away, freeing the file the waiter opened.
            let replacement = directory.appending("alice/replacement.lock")
            let second = try await startHolder(directory, lock: replacement, then: "mv \"$1\" '\(lock)' && echo moved && exec sleep 300")
            defer { _ = second.stop(timeout: 10) }
            #expect(await second.waitForOutput(within: .seconds(60)) { stdout, _ in stdout.contains("moved") })
            _ = first.stop(timeout: 10)
            await #expect {
                try await waiter.value
            } throws: { error in
                (error as? DsyncError)?.message.contains("held by pid \(second.pid) on \(Self.host)") == true
            }
            #expect(!ran.isSet, "the lock of an unlinked file is no lock")
        }
    }

    // MARK: Descriptors

    @Test func theLockDescriptor_isClosedOnExec_soNoChildInheritsTheLock() async throws {
        try await TemporaryDirectory.with(prefix: "duplex-lock") { directory in
            let replica = try replica(directory)
            let lock = replica.lockPath
            let flags = try await replica.withUserLock(timeout: .seconds(10)) { () -> [Int32] in
                let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
                return descriptors.compactMap(Int32.init).filter { fd in
                    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)")) == lock
                }.map { fcntl($0, F_GETFD) }
            }
            #expect(flags.count == 1)
            #expect(flags.allSatisfy { $0 >= 0 && $0 & FD_CLOEXEC != 0 })
        }
    }

    @Test func theRecord_roundTrips_andForeignTextIsNoRecord() {
        let holder = UserLockHolder(pid: 4711, host: "mail-a.example.com", processStart: 1_283_745, since: 1_800_000_000)
        #expect(UserLockHolder(parsing: holder.encoded) == holder)
        #expect(holder.description == "pid 4711 on mail-a.example.com since 2027-01-15 08:00:00 UTC")
        #expect(UserLockHolder(parsing: "") == nil)
        #expect(UserLockHolder(parsing: "4711:mail-a\n") == nil)
        #expect(UserLockHolder(parsing: "duplex-sync-lock 1\npid 0\nhost a\nsince 1\n") == nil)
        #expect(UserLockHolder(parsing: "duplex-sync-lock 1\npid 12\nhost a\nsince 1\nfuture key\n")?.processStart == nil)
    }
}
