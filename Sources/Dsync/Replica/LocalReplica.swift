import Dispatch
import Foundation
import Logging
import MailStore
import NIOCore
import Synchronization

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// A replica on this host: a ``MailStore`` mail root.
///
/// The user's sync lock is an exclusive `flock` on `.<root name>.duplex-sync.lock` next to
/// the mail root (released by the kernel if the process dies; see ``UserLockFile`` for the
/// holder it records and how a stale one is broken).
public final class LocalReplica: Replica, Sendable {
    public let store: MailStore
    public var description: String { store.root }
    /// Messages in one save batch before it is committed.
    let batchMessages = 512
    /// Bytes in one save batch before it is committed.
    let batchBytes: Int64 = 64 << 20

    private struct Known: Sendable {
        /// Mailbox GUID → current name.
        var names: [String: MailboxName] = [:]
        /// Mailbox GUID → next UID when it was read (to notice deliveries before a delete).
        var uidNextAtRead: [String: UInt32] = [:]
        /// Mailbox GUID → message GUID → messages with that GUID.
        var listings: [String: [String: [MessageInfo]]] = [:]
        /// Mailbox GUID → its messages as the last read listed them (mailboxes reused from
        /// the state are not listed): where the bodies of a copy from it are looked up first,
        /// instead of listing the mailbox once more.
        var readListings: [String: [MessageInfo]] = [:]
    }

    private let known = Mutex(Known())

    /// Whether a missing parent directory of the mail root is created (for the lock file
    /// and a first sync) instead of answering "no such user".
    public let createsParents: Bool

    /// Where a broken stale lock is reported.
    let logger: Logger

    public init(store: MailStore, createsParents: Bool = false, logger: Logger = Logger(label: "duplex.dsync.lock")) {
        self.store = store
        self.createsParents = createsParents
        self.logger = logger
    }

    /// `.<root name>.duplex-sync.lock` beside the mail root, named after its canonical path
    /// (``canonicalPath(_:)``): one mail root reached through a symbolic link or another
    /// spelling of its path has one lock.
    var lockPath: String {
        let root = Self.canonicalPath(store.root)
        guard let slash = root.lastIndex(of: "/") else { return ".\(root).duplex-sync.lock" }
        let parent = root[..<slash]
        return (parent.isEmpty ? "" : String(parent)) + "/." + root[root.index(after: slash)...] + ".duplex-sync.lock"
    }

    /// `path` absolute, with symbolic links, `.` and `..` resolved (`realpath(3)`), so that
    /// one mail root named two ways (relative and absolute, or through a link) is one root:
    /// one lock and one saved state. A path that does not exist yet is its parent's canonical
    /// path and its own last name; when its parent does not exist either, `path` made
    /// absolute without `.` and `..`.
    public static func canonicalPath(_ path: String) -> String {
        if let resolved = realPath(path) { return resolved }
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        let parent: String, name: Substring
        if let slash = trimmed.lastIndex(of: "/") {
            parent = slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
            name = trimmed[trimmed.index(after: slash)...]
        } else {
            parent = "."
            name = trimmed
        }
        guard !name.isEmpty, name != ".", name != "..", let resolvedParent = realPath(parent) else {
            return URL(fileURLWithPath: path).standardizedFileURL.path
        }
        return (resolvedParent == "/" ? "" : resolvedParent) + "/" + name
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Runs `body` holding the user's sync lock (see ``UserLockFile``): an exclusive `flock`
    /// on ``lockPath``, with this process's pid, host name and start recorded in it, a lock
    /// whose recorded holder is gone broken (and logged), and the record blanked when done
    /// (the file stays, see ``UserLockFile``).
    ///
    /// - Throws: ``DsyncError`` `lockTimeout` naming the holder (pid, host, since) when the
    ///   lock is not free within `timeout`; `noSuchUser` when the mail root's directory does
    ///   not exist (and is not to be created); `permissionDenied` or `io` when the lock file
    ///   cannot be opened; what `body` throws.
    public func withUserLock<T: Sendable>(timeout: Duration, _ body: @Sendable () async throws -> T) async throws -> T {
        let lock = UserLockFile(path: lockPath, logger: logger, openFile: openLockFile)
        let fd = try await lock.acquire(timeout: timeout)
        defer { lock.release(fd) }
        return try await body()
    }

    /// Opens (creating) the lock file `O_CLOEXEC`, so that no child process inherits the
    /// lock; running as root, it is given to the mail root's owner like every other file.
    private func openLockFile() throws -> Int32 {
        let path = lockPath
        var fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if fd < 0, errno == ENOENT, createsParents, let parent = path.lastIndex(of: "/").map({ String(path[..<$0]) }), !parent.isEmpty {
            try makeParents(parent)
            fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        }
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT {
                throw DsyncError(.noSuchUser, "the directory of mail root \(store.root) does not exist")
            }
            if code == EACCES || code == EPERM || code == EROFS {
                throw DsyncError(.permissionDenied, "\(path): permission denied creating the sync lock (it lives next to the mail root)")
            }
            throw DsyncError(.io, "\(path): cannot open the sync lock (errno \(code))")
        }
        if geteuid() == 0, let status = try? ownerOf(store.root), status.uid != 0 || status.gid != 0 {
            _ = fchown(fd, status.uid, status.gid)
        }
        return fd
    }

    public func create() async throws {
        _ = try mapErrors { try store.createMailbox(.inbox) }
    }

    /// Creates `directory` and its missing ancestors (mode 0700); running as root, each
    /// belongs to the owner of the nearest ancestor that existed.
    private func makeParents(_ directory: String) throws {
        var missing: [String] = []
        var current = directory
        var st = stat()
        while !current.isEmpty, stat(current, &st) != 0 {
            guard errno == ENOENT else { throw DsyncError(.io, "\(current): stat failed (errno \(errno))") }
            missing.append(current)
            guard let slash = current.lastIndex(of: "/") else { break }
            current = String(current[..<slash])
        }
        let owner = current.isEmpty ? nil : (st.st_uid, st.st_gid)
        for path in missing.reversed() {
            guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
                throw DsyncError(errno == EACCES ? .permissionDenied : .io, "\(path): cannot create the user's directory (errno \(errno))")
            }
            if geteuid() == 0, let owner { _ = chown(path, owner.0, owner.1) }
        }
    }

    /// Whether the mail root is there (a directory). A folder in it that is no mailbox Duplex
    /// can sync (an invalid name, a symbolic link) is that error, with its path, not a
    /// missing root.
    public func exists() async throws -> Bool {
        do {
            _ = try store.mailboxNames()
            return true
        } catch let error as MailStoreError where error.path != nil && error.path != store.root {
            throw DsyncError.from(error, user: nil)
        } catch {
            return false
        }
    }

    public func stamp() async throws -> StoreStamp {
        try mapErrors { try store.stamp() }
    }

    public func read(reusing: [String: MailboxView]) async throws -> ReplicaView {
        let (subscriptions, names) = try mapErrors { (try store.subscriptions(), try store.mailboxNames()) }
        // The mailboxes not reused are read side by side (each read is independent: its own
        // directories and files), so a sync after changes to several mailboxes waits for the
        // slowest read rather than their sum.
        let read = try await withThrowingTaskGroup(of: (String, MailboxView, [MessageInfo]).self) { group in
            for name in names where reusing[name.joined(separator: "/")] == nil {
                group.addTask { try self.mapErrors { try self.readMailbox(name, subscriptions: subscriptions) } }
            }
            var read: [String: (view: MailboxView, listing: [MessageInfo])] = [:]
            for try await (key, view, listing) in group { read[key] = (view, listing) }
            return read
        }
        var view = ReplicaView()
        var byGUID: [String: MailboxName] = [:]
        var uidNexts: [String: UInt32] = [:]
        var listed: [String: [MessageInfo]] = [:]
        for name in names {
            let key = name.joined(separator: "/")
            guard let mailbox = reusing[key] ?? read[key]?.view else { continue }
            if let other = view.mailboxes[mailbox.guid] {
                throw DsyncError(.badData, "mailboxes \"\(other.displayName)\" and \"\(mailbox.displayName)\" in \(store.root) have the same GUID \(mailbox.guid)")
            }
            view.mailboxes[mailbox.guid] = mailbox
            byGUID[mailbox.guid] = name
            uidNexts[mailbox.guid] = mailbox.uidNext
            if let listing = read[key]?.listing { listed[mailbox.guid] = listing }
        }
        view.subscriptions = Set(subscriptions.map(\.levels))
        known.withLock { known in
            known.names = byGUID
            known.uidNextAtRead = uidNexts
            known.listings = [:]
            known.readListings = listed
        }
        return view
    }

    /// Reads one mailbox whole: its view and the listing it came from.
    private func readMailbox(_ name: MailboxName, subscriptions: [MailboxName]) throws -> (String, MailboxView, [MessageInfo]) {
        let contents = try store.mailboxContents(of: name, subscriptions: subscriptions)
        let status = contents.status
        let mailbox = MailboxView(
            guid: status.guid.hex, name: name.levels, uidValidity: status.uidValidity, uidNext: status.uidNext,
            messages: contents.messages.map { MessageState(uid: $0.uid, guid: $0.guid, flags: SyncFlags($0.flags)) },
            keywordCapacity: KeywordCapacity(
                stored: contents.keywords.names.compactMap { $0 }, freeLetters: contents.freeKeywordLetters))
        return (name.joined(separator: "/"), mailbox, contents.messages)
    }

    public func bodies(_ requests: [BodyRequest]) async throws -> any MessageBodyStream {
        LocalBodyStream(replica: self, requests: requests)
    }

    /// The message with `uid` in `listing` (in increasing UID order), by binary search.
    static func message(uid: UInt32, in listing: [MessageInfo]) -> MessageInfo? {
        var low = 0, high = listing.count
        while low < high {
            let middle = (low + high) / 2
            if listing[middle].uid < uid { low = middle + 1 } else { high = middle }
        }
        return low < listing.count && listing[low].uid == uid ? listing[low] : nil
    }

    /// Opens the message with `guid` in the mailbox with GUID `mailbox` (the UID when it is
    /// still there, else any message with that GUID); nil when it is gone.
    func openBody(mailbox: String, guid: String, uidHint: UInt32) throws -> MessageBodyReader? {
        try mapErrors {
            guard let name = known.withLock({ $0.names[mailbox] }) else { return nil }
            // Most often the message is still where the read found it: its UID in the read's
            // listing (in UID order), without a map of the whole mailbox by GUID.
            if let read = known.withLock({ $0.readListings[mailbox] }), let message = Self.message(uid: uidHint, in: read), message.guid == guid {
                do {
                    return try store.openMessage(in: name, message)
                } catch let error as MailStoreError where error.code == .notFound {
                    // Expunged or moved meanwhile: looked up by GUID below.
                }
            }
            for attempt in 0..<2 {
                var listing = known.withLock { $0.listings[mailbox] }
                if listing == nil || attempt > 0 {
                    // The read's listing the first time (a file renamed since, by a flag
                    // change, fails to open and the mailbox is listed again).
                    let read = attempt == 0 ? known.withLock { $0.readListings[mailbox] } : nil
                    var byGUID: [String: [MessageInfo]] = [:]
                    for message in try read ?? store.listMessages(in: name) { byGUID[message.guid, default: []].append(message) }
                    listing = byGUID
                    known.withLock { $0.listings[mailbox] = byGUID }
                }
                guard let candidates = listing?[guid], !candidates.isEmpty else {
                    if attempt == 0 { continue }
                    return nil
                }
                let message = candidates.first { $0.uid == uidHint } ?? candidates[0]
                do {
                    return try store.openMessage(in: name, message)
                } catch let error as MailStoreError where error.code == .notFound {
                    continue
                }
            }
            return nil
        }
    }

    public func apply(_ changes: [ReplicaChange], source: any Replica) async throws -> ApplyReport {
        var report = ApplyReport()
        // The last batch of each run of copies, written to `tmp/` but not yet linked: they
        // are made durable together (one file-system sync for all mailboxes instead of one
        // each), then committed, each after its mailbox's earlier changes. Flag changes and
        // expunges of messages already there, subscriptions, and changes of UIDs in other
        // mailboxes do not depend on them and go on meanwhile; a copy, renumber or next-UID
        // raise in the same mailbox, or a mailbox created, renamed or deleted, commits them
        // first, so that every mailbox sees its changes in the planned order.
        var deferred: [DeferredBatch] = []
        if source is LocalReplica {
            try await applyInLanes(changes, source: source, report: &report, deferred: &deferred)
        } else {
            // Bodies from a peer arrive on one connection, one stream at a time.
            try await applyInOrder(changes[...], source: source, report: &report, deferred: &deferred)
        }
        try commit(&deferred, report: &report)
        return report
    }

    /// How many mailboxes' message changes are applied at once (``applyInLanes``).
    static let applyLanes = 4

    /// A save batch whose bodies are written but not committed (see ``apply(_:source:)``),
    /// handed from the lane that wrote it to the apply that commits it: one task at a time
    /// uses it, never two.
    struct DeferredBatch: @unchecked Sendable {
        let mailbox: String
        let batch: SaveBatch
    }

    /// Makes the deferred batches durable (one file-system sync), then commits them, side by
    /// side: each is another mailbox (a mailbox's next copies commit its batch first), with
    /// its own uidlist lock, and most of a commit is waiting for the disk.
    private func commit(_ deferred: inout [DeferredBatch], report: inout ApplyReport) throws {
        guard !deferred.isEmpty else { return }
        let batches = deferred
        deferred = []
        try mapErrors { try SaveBatch.makeDurable(batches.map(\.batch)) }
        let outcomes = Mutex([Result<(messages: Int, bytes: Int64), MailStoreError>?](repeating: nil, count: batches.count))
        DispatchQueue.concurrentPerform(iterations: batches.count) { position in
            let batch = batches[position].batch
            let bytes = batch.byteCount
            let outcome: Result<(messages: Int, bytes: Int64), MailStoreError>
            do {
                outcome = .success((try batch.commit().count, bytes))
            } catch let error as MailStoreError {
                outcome = .failure(error)
            } catch {
                outcome = .failure(MailStoreError(.io, "\(error)"))
            }
            outcomes.withLock { $0[position] = outcome }
        }
        for outcome in outcomes.withLock({ $0 }) {
            switch outcome {
            case .success(let done)?:
                report.messagesCopied += done.messages
                report.bytesCopied += done.bytes
            case .failure(let error)?:
                switch error.code {
                case .uidNotAvailable, .notFound, .alreadyExists: report.skipped += 1
                default: throw DsyncError.from(error, user: nil)
                }
            case nil:
                break
            }
        }
    }

    /// Applies `changes` with the message changes of different mailboxes side by side: each
    /// run of changes that each touch one mailbox (copies, flags, expunges, renumbering,
    /// next-UID raises, up to the next change of the mailbox tree or the subscriptions) is
    /// split by mailbox, and up to ``applyLanes`` mailboxes are applied at once, each in its
    /// planned order. Every mailbox is its own directories, uidlist and lock, and a change
    /// of one never depends on another's, so their work and their waits on the disk may
    /// overlap. The copies' last batches are left in `deferred`, as in ``applyInOrder``.
    private func applyInLanes(
        _ changes: [ReplicaChange], source: any Replica, report: inout ApplyReport, deferred: inout [DeferredBatch]
    ) async throws {
        var index = changes.startIndex
        while index < changes.endIndex {
            var end = index
            while end < changes.endIndex, changes[end].messageMailbox != nil { end += 1 }
            var order: [String] = []
            var lanes: [String: [ReplicaChange]] = [:]
            for change in changes[index..<end] {
                let mailbox = change.messageMailbox!
                if lanes[mailbox] == nil { order.append(mailbox) }
                lanes[mailbox, default: []].append(change)
            }
            if order.count < 2 {
                // A change of the tree or the subscriptions (alone, in order), or one mailbox.
                end = max(end, index + 1)
                try await applyInOrder(changes[index..<end], source: source, report: &report, deferred: &deferred)
                index = end
                continue
            }
            // A lane starts with nothing deferred: what an earlier run left is committed first.
            try commit(&deferred, report: &report)
            let results = try await withThrowingTaskGroup(of: (Int, ApplyReport, [DeferredBatch]).self) { group in
                var next = 0
                func startLane() {
                    let position = next, laneChanges = lanes[order[next]]!
                    next += 1
                    group.addTask {
                        var laneReport = ApplyReport()
                        var laneDeferred: [DeferredBatch] = []
                        try await self.applyInOrder(laneChanges[...], source: source, report: &laneReport, deferred: &laneDeferred)
                        return (position, laneReport, laneDeferred)
                    }
                }
                while next < min(Self.applyLanes, order.count) { startLane() }
                var results: [(Int, ApplyReport, [DeferredBatch])] = []
                for try await result in group {
                    results.append(result)
                    if next < order.count { startLane() }
                }
                return results
            }
            // Kept in the planned order of the mailboxes.
            for (_, laneReport, laneDeferred) in results.sorted(by: { $0.0 < $1.0 }) {
                report.add(laneReport)
                deferred.append(contentsOf: laneDeferred)
            }
            index = end
        }
    }

    /// Applies `changes` one run after another, in order. The last batch of each run of
    /// copies is left in `deferred` (bodies written, not committed) unless a later change
    /// needs it committed first.
    private func applyInOrder(
        _ changes: ArraySlice<ReplicaChange>, source: any Replica, report: inout ApplyReport, deferred: inout [DeferredBatch]
    ) async throws {
        var index = changes.startIndex
        while index < changes.endIndex {
            switch changes[index] {
            case .setFlags, .expunge, .subscribe, .unsubscribe:
                break
            case .copyMessage(let mailbox, _, _, _, _, _), .renumber(let mailbox, _), .raiseUIDNext(let mailbox, _):
                // Another mailbox's UIDs do not depend on them.
                if deferred.contains(where: { $0.mailbox == mailbox }) { try commit(&deferred, report: &report) }
            case .createMailbox, .adoptIdentity, .renameMailbox, .deleteMailbox:
                try commit(&deferred, report: &report)
            }
            // Where the next change starts: after the whole run of copies or flag changes,
            // also when the run fails (a failed run must not swallow the change after it).
            var next = index + 1
            do {
                switch changes[index] {
                case .copyMessage(let mailbox, _, _, _, _, _):
                    var run: [(uid: UInt32, guid: String, flags: SyncFlags, sourceMailbox: String, sourceUID: UInt32)] = []
                    next = index
                    while next < changes.endIndex, case .copyMessage(mailbox, let uid, let guid, let flags, let sourceMailbox, let sourceUID) = changes[next] {
                        run.append((uid, guid, flags, sourceMailbox, sourceUID))
                        next += 1
                    }
                    if let last = try await copy(run, into: mailbox, from: source, report: &report) {
                        deferred.append(DeferredBatch(mailbox: mailbox, batch: last))
                    }
                case .setFlags(let mailbox, _, _, _):
                    var run: [UInt32: MessageFlags] = [:]
                    var expected: [UInt32: MessageFlags] = [:]
                    next = index
                    while next < changes.endIndex, case .setFlags(mailbox, let uid, let flags, let from) = changes[next] {
                        run[uid] = flags.messageFlags
                        expected[uid] = from?.messageFlags
                        next += 1
                    }
                    let name = try self.name(of: mailbox)
                    // A keyword the plan did not expect to be short of letters for (the
                    // mailbox changed since the read) is left out, as Dovecot does: the
                    // check after the apply sees it and the next sync plans with the table.
                    // A message whose flags changed since the read (a client of Dovecot) is
                    // skipped: the next sync merges that change instead of overwriting it.
                    // The mailbox's expunge, planned right after its flags, goes with them
                    // (one listing of the mailbox); when they fail it is applied alone.
                    var expunging: [UInt32] = []
                    if next < changes.endIndex, case .expunge(mailbox, let uids) = changes[next] { expunging = uids }
                    let expungeIndex = next
                    if !expunging.isEmpty { next += 1 }
                    let done: (flagged: [UInt32], expunged: [UInt32])
                    do {
                        done = try store.replaceFlagsThenExpunge(in: name, run, expecting: expected, keywordOverflow: .drop, expunging: expunging)
                    } catch let error as MailStoreError where !expunging.isEmpty {
                        next = expungeIndex
                        throw error
                    }
                    report.flagChanges += done.flagged.count
                    report.skipped += run.count - done.flagged.count
                    report.expunges += done.expunged.count
                default:
                    try applyOne(changes[index], report: &report)
                }
            } catch let error as MailStoreError {
                switch error.code {
                case .uidNotAvailable, .notFound, .alreadyExists:
                    // Someone changed this mailbox meanwhile: leave it for the next sync.
                    report.skipped += 1
                default:
                    throw DsyncError.from(error, user: nil)
                }
            }
            index = next
        }
    }

    private func name(of mailbox: String) throws -> MailboxName {
        guard let name = known.withLock({ $0.names[mailbox] }) else {
            throw MailStoreError(.notFound, "mailbox with GUID \(mailbox) is no longer in \(store.root)")
        }
        return name
    }

    private func applyOne(_ change: ReplicaChange, report: inout ApplyReport) throws {
        switch change {
        case .createMailbox(let guid, let levels, let uidValidity):
            let name = try MailboxName(levels: levels)
            try store.createMailbox(name, guid: MailboxGUID(hex: guid), uidValidity: uidValidity)
            known.withLock { $0.names[guid] = name; $0.uidNextAtRead[guid] = 1 }
            report.mailboxesCreated += 1
        case .adoptIdentity(let currentGUID, let guid, let uidValidity):
            let name = try name(of: currentGUID)
            try store.updateUidlist(of: name, UidlistUpdate(mailboxGUID: MailboxGUID(hex: guid), uidValidity: uidValidity))
            known.withLock { known in
                // The old GUID stays known: the peer may still ask for bodies by it.
                known.names[guid] = name
                known.uidNextAtRead[guid] = known.uidNextAtRead[currentGUID]
                known.listings[guid] = known.listings[currentGUID]
                known.readListings[guid] = known.readListings[currentGUID]
            }
        case .renameMailbox(let guid, let levels):
            let name = try name(of: guid)
            let target = try MailboxName(levels: levels)
            try store.renameMailbox(name, to: target, includingChildren: false)
            known.withLock { known in
                for (key, value) in known.names where value == name { known.names[key] = target }
            }
            report.mailboxesRenamed += 1
        case .deleteMailbox(let guid):
            let name = try name(of: guid)
            let status = try store.status(of: name)
            guard status.guid.hex == guid, status.uidNext == known.withLock({ $0.uidNextAtRead[guid] }) else {
                // Mail arrived since it was read: not ours to delete now.
                report.skipped += 1
                return
            }
            try store.deleteMailbox(name)
            known.withLock { known in
                for (key, value) in known.names where value == name { known.names[key] = nil }
            }
            report.mailboxesDeleted += 1
        case .renumber(let mailbox, let map):
            try store.updateUidlist(of: try name(of: mailbox), UidlistUpdate(renumber: map))
            report.renumbered += map.count
        case .expunge(let mailbox, let uids):
            let done = try store.expunge(in: try name(of: mailbox), uids: uids)
            report.expunges += done.count
        case .raiseUIDNext(let mailbox, let uidNext):
            try store.updateUidlist(of: try name(of: mailbox), UidlistUpdate(minimumNextUID: uidNext))
        case .subscribe(let levels):
            try store.subscribe(try MailboxName(levels: levels))
            report.subscriptionChanges += 1
        case .unsubscribe(let levels):
            try store.unsubscribe(try MailboxName(levels: levels))
            report.subscriptionChanges += 1
        case .copyMessage, .setFlags:
            preconditionFailure("copies and flag changes are applied in runs")
        }
    }

    /// Copies messages from `source` in batches: bodies streamed into `tmp/`, each full
    /// batch committed at once.
    ///
    /// - Returns: the last batch, its bodies written but not committed (nil when it is
    ///   empty), for the caller to commit.
    private func copy(
        _ run: [(uid: UInt32, guid: String, flags: SyncFlags, sourceMailbox: String, sourceUID: UInt32)], into mailbox: String,
        from source: any Replica, report: inout ApplyReport
    ) async throws -> SaveBatch? {
        // The stream first: a peer pushing these bodies must be read even when this fails.
        let stream = try await source.bodies(run.map { BodyRequest(mailbox: $0.sourceMailbox, guid: $0.guid, uid: $0.sourceUID) })
        let last: SaveBatch?
        do {
            let name = try name(of: mailbox)
            // Never lose a copy to a keyword: one that finds no letter (the mailbox changed
            // since the read) is left out, and the check after the apply sees it.
            func makeBatch() throws -> SaveBatch {
                let batch = try store.makeSaveBatch(in: name)
                batch.keywordOverflow = .drop
                return batch
            }
            var batch = try makeBatch()
            for item in run {
                guard let header = try await stream.nextMessage() else {
                    report.skipped += 1  // expunged on the other side meanwhile
                    continue
                }
                let options = SaveOptions(uid: item.uid, flags: item.flags.messageFlags, guid: item.guid, receivedDate: header.receivedDate)
                try await batch.add(options: options) { writer in
                    while let chunk = try await stream.nextChunk() {
                        try chunk.withUnsafeReadableBytes { try writer.write($0) }
                    }
                }
                if batch.count >= batchMessages || batch.byteCount >= batchBytes {
                    let bytes = batch.byteCount
                    report.messagesCopied += try batch.commit().count
                    report.bytesCopied += bytes
                    batch = try makeBatch()
                }
            }
            last = batch.count > 0 ? batch : nil
        } catch {
            try? await stream.finish()
            throw error
        }
        try await stream.finish()
        return last
    }

    private func mapErrors<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as MailStoreError {
            throw DsyncError.from(error, user: nil)
        }
    }
}

/// The owner of a path, for giving lock files to the mail user.
func ownerOf(_ path: String) throws -> (uid: uid_t, gid: gid_t) {
    var st = stat()
    guard stat(path, &st) == 0 else { throw DsyncError(.io, "\(path): stat failed (errno \(errno))") }
    return (st.st_uid, st.st_gid)
}
