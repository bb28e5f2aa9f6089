import Logging
import ServiceLifecycle

/// Keeps a ``Replicator``'s queue in its state file: loaded once at start, saved every
/// minute while running and once more at shutdown, so that a crash loses at most the last
/// minute and a restart never makes every user due for a full sync at once.
///
/// Use: ``load()`` before the replicator runs; then, as a `Service`, list it in the
/// `ServiceGroup` *before* the replicator's service, so that graceful shutdown (in reverse
/// order) stops it after the replicator's syncs ended and its last save has them all. Or
/// run ``run(every:clock:)`` yourself (it saves once more when cancelled) and call
/// ``save()`` after the replicator's `run()` returned. The file is written off the
/// replicator actor, from a copy of its queue, so saving never stalls scheduling.
public actor ReplicatorStatePersistence: Service {
    /// The state file (see ``ReplicatorStateFile``).
    public nonisolated let path: String
    /// Dovecot 2.3's `replicator.db`, imported when the state file does not exist yet.
    public nonisolated let dovecotDatabasePath: String?
    /// A file that had problems is kept under this name before it is first overwritten,
    /// for an operator to look at.
    public nonisolated var rejectedCopyPath: String { path + ".rejected" }

    /// When the next periodic save is due (Unix seconds); nil while ``run(every:clock:)``
    /// is not running.
    public private(set) var nextSaveTime: Int64?

    let replicator: Replicator
    let logger: Logger
    /// How many problems of a file are logged one by one.
    let loggedProblemLimit = 20

    /// - Parameters:
    ///   - path: the state file, e.g. `/var/lib/duplex/replicator.state`; its directory must exist.
    ///   - replicator: the replicator whose queue is loaded and saved.
    ///   - dovecotDatabase: Dovecot's `replicator.db`, imported at the first start.
    public init(path: String, replicator: Replicator, importingDovecotDatabase dovecotDatabase: String? = nil, logger: Logger) {
        self.path = path
        self.dovecotDatabasePath = dovecotDatabase
        self.replicator = replicator
        self.logger = logger
    }

    /// Reads the state file (or, when there is none, Dovecot's database) into the
    /// replicator. Bad lines are logged (`path:line: what`) and skipped; a state file that
    /// had any is first kept as ``rejectedCopyPath``. An imported database is logged with
    /// the number of users it gave, and the state file is written at once, so that a later
    /// start reads that and never imports again.
    ///
    /// - Returns: what was read, nil when there was nothing to read.
    /// - Throws: ``ReplicatorStateError`` when a file exists but cannot be read.
    @discardableResult
    public func load() async throws -> ReplicatorStateContents? {
        var contents = try ReplicatorStateFile.read(at: path)
        var imported = false
        if contents == nil, let dovecotDatabasePath {
            contents = try DovecotReplicatorDatabase.read(at: dovecotDatabasePath, now: replicator.clock.now)
            imported = contents != nil
            if !imported {
                logger.warning("Dovecot's replicator database to import does not exist; nothing imported", metadata: ["path": "\(dovecotDatabasePath)"])
            }
        }
        guard let contents else {
            logger.info("no replicator state to load", metadata: ["path": "\(path)"])
            return nil
        }
        report(contents, imported: imported)
        if contents.problemCount > 0 && contents.path == path {
            do {
                try StateFileIO.keepCopy(of: path, as: rejectedCopyPath)
            } catch {
                logger.warning("could not keep the state file with problems: \(error)")
            }
        }
        await replicator.restore(contents.users)
        if imported { await saveLoggingFailure() }
        return contents
    }

    /// Writes the replicator's queue to the state file now.
    ///
    /// - Throws: ``ReplicatorStateError`` when it cannot be written (the previous file is
    ///   then intact).
    public func save() async throws {
        let queue = await replicator.queue
        let started = ContinuousClock.now
        try queue.save(to: path)
        logger.debug(
            "replicator state saved",
            metadata: ["path": "\(path)", "users": "\(queue.count)", "seconds": "\(started.duration(to: .now))"])
    }

    /// Saves every `interval` seconds of `clock` until the task is cancelled, then once
    /// more. A failed save is logged and tried again at the next interval.
    ///
    /// - Parameters:
    ///   - interval: seconds between saves (default one minute).
    ///   - clock: the time source (the replicator's, or a test's manual clock).
    public func run(every interval: Int64 = 60, clock: any ReplicatorClock) async {
        let interval = max(interval, 1)
        var next = clock.now + interval
        while !Task.isCancelled {
            nextSaveTime = next
            do {
                try await clock.sleep(until: next)
            } catch {
                break
            }
            guard !Task.isCancelled else { break }
            await saveLoggingFailure()
            next = max(next + interval, clock.now + 1)
        }
        nextSaveTime = nil
        await saveLoggingFailure()
    }

    /// Saves every minute on the replicator's clock until graceful shutdown or
    /// cancellation, then once more.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await self.run(clock: self.replicator.clock)
        }
    }

    private func saveLoggingFailure() async {
        do {
            try await save()
        } catch {
            logger.error("could not save the replicator state: \(error)")
        }
    }

    private func report(_ contents: ReplicatorStateContents, imported: Bool) {
        for problem in contents.problems.prefix(loggedProblemLimit) {
            logger.warning("replicator state: \(problem)")
        }
        if contents.problemCount > loggedProblemLimit {
            logger.warning("replicator state: \(contents.problemCount - loggedProblemLimit) more problems in \(contents.path)")
        }
        logger.info(
            imported ? "imported Dovecot's replicator database" : "replicator state loaded",
            metadata: ["path": "\(contents.path)", "users": "\(contents.users.count)", "problems": "\(contents.problemCount)"])
    }
}
