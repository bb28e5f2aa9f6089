import ArgumentParser
import Coordinator
import Foundation
import Logging
import MailStore
import ServiceLifecycle
import UnixSignals

/// `duplex demo`: a whole fleet on loopback in a temporary directory (a coordinator, two
/// pairs of two agents, 20 users), filled with generated mail, driven with live changes on
/// every host at once, and checked: every user's mail must end identical on both hosts of
/// its pair.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a whole Duplex fleet on loopback, replicate live mail, and check that both hosts agree.",
        discussion: """
            Everything runs in this process, on 127.0.0.1 and in a new temporary directory \
            ($TMPDIR/duplex-demo.XXXXXX): TLS certificates made on the spot; a coordinator on \
            an embedded SQLite store (or on PostgreSQL with --database-url); a tenant and two \
            pairs of two agents, each agent with its dsync listener, replicator, admin socket, \
            HTTP endpoint and link to the coordinator, as `duplex agent` runs them; and the \
            users, placed on the pairs by the coordinator.

            The users' mail is generated on the first host of their pair (plain text, HTML, \
            attachments, forwarded messages, non-ASCII headers and mailbox names, a few large \
            messages; the same mail for the same --seed) and replicated to the second. Then \
            both hosts of every pair change mail at once for --rounds rounds (deliveries, \
            flag and keyword changes, expunges, mailboxes created, renamed and deleted, and a \
            UID clash: both hosts giving one UID to different messages), notifying their \
            replicator as Dovecot's replication plugin does. A status table shows each \
            pair's queued, running, synced and failed syncs and the replication lag.

            At the end every user's mail is compared on both hosts (mailbox names, GUIDs, \
            UIDVALIDITY, subscriptions; each message's UID, GUID, flags, keywords and body) \
            and a summary printed: users, messages and bytes replicated, conflicts resolved, \
            replication lag p50/p99. With --keep the fleet keeps running until Ctrl-C so that \
            `duplex status` and `duplex replicator status` can be tried (the commands are \
            printed). Ctrl-C stops the demo cleanly at any time; the directory is removed \
            unless --keep or --keep-dir.

            Logs go to standard error, errors only unless DUPLEX_LOG_LEVEL says otherwise.

            Exit codes: 0 every user identical on both hosts; 1 a difference (each one named: \
            user, mailbox, UID) or the fleet did not settle; 64 usage (a bad --maildir among \
            them); 69 the fleet could not be set up (ports, database, certificates); \
            130 interrupted.
            """
    )

    @Option(help: ArgumentHelp("How many users to assign and fill (1 to 1000).", valueName: "N"))
    var users = 20

    @Option(help: ArgumentHelp("How many messages to generate in all, spread over the users (0 to 1000000).", valueName: "N"))
    var messages = 3000

    @Option(help: ArgumentHelp("Rounds of live changes on every host (0 to 100).", valueName: "N"))
    var rounds = 6

    @Option(help: ArgumentHelp("Seed of the generated mail and changes: the same seed, the same mail.", valueName: "N"))
    var seed: UInt64 = 1

    @Option(help: ArgumentHelp(
        "Run the coordinator on this PostgreSQL (postgres://USER@HOST:PORT/DB or postgres://USER@/DB?host=/SOCKET/DIR) "
            + "instead of an embedded SQLite store.", valueName: "URL"))
    var databaseURL: String?

    @Option(help: ArgumentHelp("A file holding PostgreSQL's password.", valueName: "FILE"))
    var databasePasswordFile: String?

    @Option(help: ArgumentHelp("Import this Maildir as --user's mail instead of generating it.", valueName: "PATH"))
    var maildir: String?

    @Option(help: ArgumentHelp("The user whose mail --maildir is (a user name such as alice@example.com).", valueName: "NAME"))
    var user: String?

    @Flag(help: "Keep the fleet running after the check until Ctrl-C (and keep the directory).")
    var keep = false

    @Flag(help: "Keep the demo's directory after it ends.")
    var keepDir = false

    @Flag(help: "Print the summary as JSON on standard output (the status table goes to standard error).")
    var json = false

    @Option(help: .hidden)
    var fault: String?

    func validate() throws {
        guard (1...1000).contains(users) else { throw ValidationError("--users must be between 1 and 1000, got \(users)") }
        guard (0...1_000_000).contains(messages) else {
            throw ValidationError("--messages must be between 0 and 1000000, got \(messages)")
        }
        guard (0...100).contains(rounds) else { throw ValidationError("--rounds must be between 0 and 100, got \(rounds)") }
        if let databaseURL {
            do {
                _ = try CoordinatorDatabaseURL(parsing: databaseURL)
            } catch {
                throw ValidationError("--database-url: \(error)")
            }
        }
        if databasePasswordFile != nil && databaseURL == nil {
            throw ValidationError("--database-password-file needs --database-url")
        }
        switch (maildir, user) {
        case (nil, nil): break
        case (nil, _?): throw ValidationError("--user needs --maildir (the Maildir to import as the user's mail)")
        case (_?, nil): throw ValidationError("--maildir needs --user (whose mail it is)")
        case (let path?, let name?):
            if let problem = DemoMailFiller.maildirProblem(path) { throw ValidationError(problem) }
            do {
                _ = try CoordinatorName(name, kind: .user)
            } catch {
                throw ValidationError("--user: \(error)")
            }
            guard name.contains("@"), !name.hasPrefix("@"), !name.hasSuffix("@") else {
                throw ValidationError("--user must be a name with a domain (alice@example.com), got \"\(name)\"")
            }
        }
        if let fault, DemoFault(rawValue: fault) == nil {
            throw ValidationError("--fault must be one of \(DemoFault.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() async throws {
        let started = ContinuousClock.now
        let logger = Self.makeLogger()
        let directory: String
        do {
            directory = try Self.makeDirectory()
        } catch {
            Output.error("\(error)")
            throw ExitCode(69)
        }
        let keepsDirectory = keep || keepDir
        let control = DemoControl()
        // Trapped before anything else runs: Ctrl-C stops the demo, never the process.
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        let outcome: DemoOutcome = await withTaskGroup(of: DemoOutcome?.self) { tasks in
            tasks.addTask {
                for await _ in signals {
                    // Once the fleet runs it stops gracefully; before, the set-up is cancelled.
                    if await !control.interrupt() { return nil }
                }
                return nil
            }
            tasks.addTask {
                do {
                    return try await self.demo(in: directory, started: started, control: control, logger: logger)
                } catch is CancellationError {
                    return .interrupted
                } catch let error as DemoError {
                    return await control.isInterrupted ? .interrupted : .failed(error.description, 69)
                } catch let error as ExitCode {
                    return .failed(nil, error.rawValue)
                } catch {
                    return await control.isInterrupted ? .interrupted : .failed("\(error)", 69)
                }
            }
            var outcome: DemoOutcome = .interrupted
            while let finished = await tasks.next() {
                if let finished {
                    outcome = finished
                    break
                }
                // The signal watcher ended: the set-up is cancelled.
                tasks.cancelAll()
            }
            tasks.cancelAll()
            return outcome
        }
        if keepsDirectory {
            FileHandle.standardError.write(Data("duplex: the demo's directory is kept: \(directory)\n".utf8))
        } else {
            try? FileManager.default.removeItem(atPath: directory)
        }
        switch outcome {
        case .finished(let identical): if !identical { throw ExitCode(1) }
        case .interrupted:
            Output.error("interrupted; the fleet was stopped")
            throw ExitCode(130)
        case .failed(let message, let code):
            if let message { Output.error(message) }
            throw ExitCode(code)
        }
    }

    /// Sets up the fleet, fills the mail, runs the fleet with the demo beside it, and prints
    /// the summary.
    private func demo(in directory: String, started: ContinuousClock.Instant, control: DemoControl, logger: Logger) async throws -> DemoOutcome {
        let json = self.json
        let info: @Sendable (String) -> Void = { text in json ? Output.error(text) : Output.write(text + "\n") }
        let databaseURL = try CoordinatorDatabaseURL(parsing: self.databaseURL ?? "sqlite://\(directory)/coordinator.db")
        var password: String?
        if let databasePasswordFile {
            do {
                password = try String(contentsOfFile: databasePasswordFile, encoding: .utf8).trimmingCharacters(in: .newlines)
            } catch {
                throw DemoError("--database-password-file \(databasePasswordFile): \(error.localizedDescription)")
            }
        }
        let database = CoordinatorDatabase(url: databaseURL, password: password, poolSize: 4)
        // On a shared PostgreSQL the run's names carry a tag, so that runs never meet.
        let tag = self.databaseURL == nil ? "" : "-" + String((0..<6).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789".randomElement()! })
        let width = String(users).count
        // User names are global in the coordinator: on a shared PostgreSQL the domain carries the tag.
        let domain = tag.isEmpty ? "example.com" : "\(tag.dropFirst()).example.com"
        var names = (1...users).map { number in "user\(String(repeating: "0", count: max(width, 2) - String(number).count))\(number)@\(domain)" }
        if let user, maildir != nil, !names.contains(user) { names.insert(user, at: 0) }
        let (fleet, ports) = try await DemoFleet.prepare(directory: directory, users: names, tag: tag, database: database, logger: logger)
        info("Duplex demo in \(directory)")
        info("  coordinator  \(fleet.coordinatorURL) on \(databaseURL.isEmbedded ? "SQLite \(directory)/coordinator.db" : "\(databaseURL)")")
        for pair in fleet.pairs {
            info("  \(pair.name)  \(pair.a.name) (127.0.0.1:\(pair.a.dsyncPort)) <-> \(pair.b.name) (127.0.0.1:\(pair.b.dsyncPort)), \(pair.users.count) users")
        }

        // Mail on the a hosts before anything runs: the first syncs copy it to the b hosts.
        let fillStart = ContinuousClock.now
        let filler = DemoMailFiller(
            factory: DemoMessageFactory(domain: "example.com"), seed: seed, configuration: MailStoreConfiguration(fsync: false))
        var summary = DemoSummary(
            result: "different", directory: directory, coordinator: fleet.coordinatorURL, database: "\(databaseURL)",
            pairs: fleet.pairs.map { DemoSummary.Pair(name: $0.name, hosts: [$0.a.name, $0.b.name], users: $0.users.count) })
        let generated = names.filter { $0 != user || maildir == nil }
        for (index, (name, pair)) in fleet.users.enumerated() {
            try Task.checkCancellation()
            let root = try pair.a.mailRoot(for: name)
            if let maildir, name == user {
                let imported = try DemoMailFiller.importMaildir(from: maildir, to: root, configuration: filler.configuration)
                info("  imported \(maildir) as \(name): \(imported.mailboxes) mailboxes, \(imported.messages) messages")
                summary.generatedMessages += imported.messages
                continue
            }
            let share = messages / generated.count + (index < messages % generated.count ? 1 : 0)
            let made = try filler.fill(root: root, user: name, total: share)
            summary.generatedMessages += made.messages
            summary.generatedBytes += made.bytes
        }
        summary.phaseSeconds["fill"] = DemoRecorder.seconds(ContinuousClock.now - fillStart)
        info("  mail: \(summary.generatedMessages) messages (\(DemoSummary.size(summary.generatedBytes)) generated) on the a hosts")

        let recorder = DemoRecorder()
        let readiness = DemoReadiness()
        let opened: CoordinatorDatabase.Opened
        do {
            opened = try await database.open(logger: logger)
        } catch {
            throw DemoError("cannot open the coordinator's store \(databaseURL): \(error)")
        }
        let built = try fleet.makeServices(store: opened, recorder: recorder, logger: logger) { part in
            Task { await readiness.listens(part) }
        }
        ports.release()
        var groupConfiguration = ServiceGroupConfiguration(services: built.services, logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(30)
        let group = ServiceGroup(configuration: groupConfiguration)
        guard await control.started(group) else { throw CancellationError() }
        let storeConfiguration = MailStoreConfiguration()
        let run = DemoRun(
            fleet: fleet, replicators: built.replicators, recorder: recorder, readiness: readiness, control: control,
            activity: DemoActivity(
                fleet: fleet, replicators: built.replicators, recorder: recorder, factory: filler.factory, seed: seed,
                configuration: storeConfiguration, logger: logger),
            verifier: DemoVerifier(configuration: storeConfiguration), rounds: rounds, fault: fault.flatMap(DemoFault.init(rawValue:)),
            boardDescriptor: json ? 2 : 1, logger: logger)
        let keep = self.keep
        let before = summary
        let outcome: DemoOutcome = try await withThrowingTaskGroup(of: DemoOutcome?.self) { tasks in
            tasks.addTask {
                // The fleet's own end is nil; why it ended, if it failed, is kept for below.
                do {
                    try await group.run()
                } catch {
                    await control.fleetFailed(error)
                }
                return nil
            }
            tasks.addTask {
                let result = try await run.run(summary: before, started: started)
                if json { try Output.json(result) } else { Output.write("\n" + result.text()) }
                if keep {
                    info(Self.keepInstructions(fleet))
                } else {
                    await group.triggerGracefulShutdown()
                }
                return .finished(identical: result.result == "identical")
            }
            var outcome: DemoOutcome?
            var failure: (any Error)?
            while true {
                do {
                    guard let finished = try await tasks.next() else { break }
                    if let finished {
                        outcome = finished
                    } else if outcome == nil {
                        // The fleet stopped (Ctrl-C, or a part failed) before the demo ended.
                        tasks.cancelAll()
                    }
                } catch {
                    // The demo failed or was interrupted: the fleet stops gracefully, and is
                    // waited for, so that running syncs end and nothing is left half done.
                    if !(error is CancellationError) { failure = failure ?? error }
                    await group.triggerGracefulShutdown()
                }
            }
            if let outcome { return outcome }
            if let fleetError = await control.fleetError { throw DemoError("the fleet stopped: \(fleetError)") }
            if let failure, await !control.isInterrupted { throw failure }
            return .interrupted
        }
        await opened.close()
        return outcome
    }

    /// What to type in another terminal while `--keep` keeps the fleet running.
    static func keepInstructions(_ fleet: DemoFleet) -> String {
        var lines = [
            "",
            "The fleet keeps running; Ctrl-C stops it. From another terminal:",
            "  duplex status --coordinator \(fleet.coordinatorURL) --ca \(fleet.caPath) --token-file \(fleet.adminTokenPath)",
        ]
        for pair in fleet.pairs {
            lines.append("  duplex replicator status --socket \(pair.a.adminSocket)")
        }
        if let pair = fleet.pairs.first, let user = pair.users.first {
            lines.append("  duplex mailbox list \((try? pair.b.mailRoot(for: user)) ?? "")")
        }
        return lines.joined(separator: "\n")
    }

    /// A new directory `$TMPDIR/duplex-demo.XXXXXX` (mode 0700).
    static func makeDirectory() throws -> String {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array((base + "/duplex-demo.XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            throw DemoError("cannot make a directory in \(base): \(String(cString: strerror(errno)))")
        }
        return String(cString: made)
    }

    /// Log lines on standard error, errors only (the status table is the demo's output)
    /// unless `DUPLEX_LOG_LEVEL` says otherwise.
    static func makeLogger() -> Logger {
        var logger = Logger(label: "duplex.demo") { label in StreamLogHandler.standardError(label: label) }
        logger.logLevel = .error
        if let text = ProcessInfo.processInfo.environment["DUPLEX_LOG_LEVEL"], let level = Logger.Level(rawValue: text) {
            logger.logLevel = level
        }
        return logger
    }
}

/// How a demo ended.
enum DemoOutcome: Sendable {
    case finished(identical: Bool)
    case interrupted
    /// A message to print (nil when already printed) and the exit code.
    case failed(String?, Int32)
}

/// Whether the demo was interrupted, and the running fleet to stop when it is.
actor DemoControl {
    private(set) var isInterrupted = false
    /// Why the fleet's service group failed, if it did.
    private(set) var fleetError: (any Error)?
    private var group: ServiceGroup?

    func fleetFailed(_ error: any Error) {
        fleetError = error
    }

    /// Registers the fleet about to run; false when the demo was interrupted already.
    func started(_ group: ServiceGroup) -> Bool {
        guard !isInterrupted else { return false }
        self.group = group
        return true
    }

    /// Ctrl-C: stops the running fleet gracefully and returns true, or returns false when
    /// no fleet runs yet (the set-up is to be cancelled).
    func interrupt() async -> Bool {
        isInterrupted = true
        guard let group else { return false }
        await group.triggerGracefulShutdown()
        return true
    }
}

extension CoordinatorDatabaseURL {
    /// Whether this is the embedded store.
    var isEmbedded: Bool {
        if case .sqlite = self { return true }
        return false
    }
}
