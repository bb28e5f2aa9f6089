import ArgumentParser
import Dsync
import Foundation
import MailStore

/// `duplex sync -u USER [--full] [--state-dir DIR] [--lock-timeout SECS] [--dry-run] [--json] MAILROOT_A MAILROOT_B|tls://HOST:PORT`:
/// a two-way sync of one user's mail, like `doveadm sync`, both directions in one run; side
/// B is another mail root on this host or a peer's `duplex agent` over mutual TLS.
struct SyncCommand: AsyncParsableCommand {
    static let configuration: CommandConfiguration = {
        var configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Make two copies of a user's Maildir identical (two-way, master/master).",
        discussion: """
            Exit codes: 0 synced; 2 a side changed during the sync (safe to run again); \
            64 usage; 65 bad data, or a mass disappearance refused (see --restore-mass-expunge \
            and --accept-mass-expunge), \
            including a mail root that vanished after an earlier sync; 67 no such user (a mail \
            root is missing before the first sync); 68 the peer cannot be reached; 74 I/O error; \
            75 a user lock was not free in time; 76 the peer broke the protocol (a bad frame, a \
            body that does not match its digest, the connection cut); 77 permission denied, or \
            TLS authentication failed.

            With B = tls://HOST:PORT the agent at HOST serves that side; this host presents \
            the certificate of --tls-cert/--tls-key (or of the agent configuration given with \
            --config, whose state_dir is then the default state directory), trusts only \
            --tls-ca and accepts the peer only when its certificate names one of --peer. \
            78: bad --config file.
            """
        )
        // Parsed alone by DuplexCommand.quickParse, the command is still `duplex sync` in
        // what ArgumentParser prints. Parsed alone, ArgumentParser also skips its check for
        // a completion-script request (two more parsers of the arguments, whose run-time type
        // lookups were a third of a no-change sync's CPU); such a request is no sync, so
        // quickParse leaves it to the root command, which answers it.
        configuration._superCommandName = "duplex"
        return configuration
    }()

    @Option(name: .shortAndLong, help: "The user (names the saved state).")
    var user: String

    @Flag(help: "Ignore the saved state and compare everything (never duplicates).")
    var full = false

    @Option(name: .long, help: ArgumentHelp("Where sync states are kept (default $DUPLEX_STATE_DIR or ~/.local/state/duplex/sync).", valueName: "DIR"))
    var stateDir: String?

    @Option(name: .long, help: ArgumentHelp("Seconds to wait for each side's user lock.", valueName: "SECS"))
    var lockTimeout: Double = SyncArguments.defaultLockTimeout

    @Flag(help: "Print the plan and change nothing.")
    var dryRun = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Flag(help: "Propagate even a mass disappearance of messages (more than half of a user's messages vanishing on one side).")
    var acceptMassExpunge = false

    @Flag(help: "Copy the messages and mailboxes of a mass disappearance back to the side that lost them, from the side that still has them (a vanished mail root is created again); other changes merge as usual.")
    var restoreMassExpunge = false

    @OptionGroup var tlsOptions: TLSClientOptions

    @Option(name: .long, help: ArgumentHelp("Seconds without a frame from a TLS peer before the sync gives up.", valueName: "SECS"))
    var ioTimeout: Double = SyncArguments.defaultIOTimeout

    @Option(name: .long, help: ArgumentHelp("Run the sync in the local agent listening on this socket (its dsync.sync_socket); in this process when nothing answers there.", valueName: "SOCKET"))
    var agent: String?

    @Argument(help: "Side A: a mail root (INBOX's Maildir).")
    var mailRootA: String

    @Argument(help: "Side B: another mail root, or a peer agent as tls://HOST:PORT.")
    var mailRootB: String

    /// The values of the command line, for the sync to run on.
    var arguments: SyncArguments {
        SyncArguments(
            user: user, full: full, stateDir: stateDir, lockTimeout: lockTimeout, dryRun: dryRun, json: json,
            acceptMassExpunge: acceptMassExpunge, restoreMassExpunge: restoreMassExpunge, tls: tlsOptions.values, ioTimeout: ioTimeout,
            agent: agent, mailRootA: mailRootA, mailRootB: mailRootB)
    }

    func validate() throws {
        try arguments.validate()
    }

    func run() async throws {
        try await arguments.run()
    }

    static func describe(_ report: SyncReport, a: String, b: String) -> String {
        if report.fastPath {
            return "user \(report.user): no changes since the last sync (\(report.mailboxes) mailboxes, \(report.messages) messages; \(String(format: "%.3f", report.seconds)) s)\n"
        }
        var text = ""
        if report.dryRun {
            text += "user \(report.user): dry run, nothing changed\n"
            text += "changes planned on A (\(a)): \(report.plannedA)\n"
            for line in report.planA { text += "  \(line)\n" }
            text += "changes planned on B (\(b)): \(report.plannedB)\n"
            for line in report.planB { text += "  \(line)\n" }
            text += droppedKeywordsLine(report)
            return text
        }
        func row(_ label: String, _ x: ApplyReport, _ y: ApplyReport, _ value: (ApplyReport) -> Int64) -> [String] {
            [label, String(value(x)), String(value(y))]
        }
        let x = report.appliedA, y = report.appliedB
        text += Output.table(
            header: ["CHANGE", "ON A", "ON B"],
            rows: [
                row("mailboxes created", x, y) { Int64($0.mailboxesCreated) },
                row("mailboxes renamed", x, y) { Int64($0.mailboxesRenamed) },
                row("mailboxes deleted", x, y) { Int64($0.mailboxesDeleted) },
                row("messages copied", x, y) { Int64($0.messagesCopied) },
                row("bytes copied", x, y) { $0.bytesCopied },
                row("flag changes", x, y) { Int64($0.flagChanges) },
                row("expunges", x, y) { Int64($0.expunges) },
                row("UIDs moved", x, y) { Int64($0.renumbered) },
                row("subscriptions", x, y) { Int64($0.subscriptionChanges) },
            ],
            rightAligned: [1, 2])
        text += "user \(report.user): \(report.mailboxes) mailboxes, \(report.messages) messages in sync"
        text += "; UID conflicts \(report.uidConflicts), name conflicts \(report.nameConflicts)"
        text += "; \(String(format: "%.3f", report.seconds)) s\n"
        text += droppedKeywordsLine(report)
        if report.restoredA + report.restoredB > 0 {
            text += "restored after a mass disappearance: \(report.restoredA) messages on A, \(report.restoredB) on B\n"
        }
        if report.changedDuringSync {
            text += "a side changed during the sync: run it again (exit code 2)\n"
        }
        return text
    }

    /// The line about keywords a mailbox could not hold on both sides; empty when none.
    static func droppedKeywordsLine(_ report: SyncReport) -> String {
        guard report.keywordsDropped > 0 else { return "" }
        return "keywords dropped: \(report.keywordsDropped) (more than a Maildir mailbox's 26 keyword letters on a side; named in the warnings)\n"
    }
}

/// The values of a `duplex sync` command line, as ArgumentParser (``SyncCommand``) or
/// ``SyncCommand/parseWellFormed(_:)`` read them, and the sync they ask for.
struct SyncArguments: Equatable, Sendable {
    /// Seconds to wait for each side's user lock when `--lock-timeout` is not given.
    static let defaultLockTimeout: Double = 30
    /// Seconds without a frame from a TLS peer when `--io-timeout` is not given.
    static let defaultIOTimeout: Double = 120

    var user: String
    var full: Bool
    var stateDir: String?
    var lockTimeout: Double
    var dryRun: Bool
    var json: Bool
    var acceptMassExpunge: Bool
    var restoreMassExpunge: Bool
    var tls: TLSClientValues
    var ioTimeout: Double
    /// `--agent`: the local agent's sync socket, nil to sync in this process.
    var agent: String? = nil
    var mailRootA: String
    var mailRootB: String

    var remote: Bool { mailRootB.hasPrefix("tls://") }

    func validate() throws {
        guard !user.isEmpty else { throw ValidationError("-u USER must not be empty") }
        guard lockTimeout >= 0, lockTimeout <= 3600 else { throw ValidationError("--lock-timeout must be between 0 and 3600 seconds") }
        guard !mailRootA.hasPrefix("tls://") else {
            throw ValidationError("\(mailRootA): side A must be a local mail root; give the peer as side B")
        }
        guard !(acceptMassExpunge && restoreMassExpunge) else {
            throw ValidationError("--accept-mass-expunge and --restore-mass-expunge exclude each other: choose one")
        }
        guard ioTimeout > 0, ioTimeout <= 86400 else { throw ValidationError("--io-timeout must be more than 0 and at most 86400 seconds") }
        if let agent {
            guard !agent.isEmpty, agent.utf8.count <= AgentConfiguration.maximumSocketPathLength else {
                throw ValidationError("--agent must be a unix socket path of 1 to \(AgentConfiguration.maximumSocketPathLength) bytes")
            }
        }
        if remote {
            do {
                _ = try RemoteReplica.parse(mailRootB)
            } catch let error as DsyncError {
                throw ValidationError(error.message)
            }
            try tls.check()
            return
        }
        // Canonical paths: one mail root given two ways is one root (syncing it with itself
        // would wait for its own lock).
        let a = LocalReplica.canonicalPath(mailRootA), b = LocalReplica.canonicalPath(mailRootB)
        guard a != b else {
            throw ValidationError("both sides are \(mailRootA)")
        }
        // One mail root inside the other would sync a user's folders into themselves.
        guard !a.hasPrefix(b + "/"), !b.hasPrefix(a + "/") else {
            throw ValidationError("one mail root is inside the other (\(a), \(b))")
        }
    }

    /// Where sync states are kept: `--state-dir`, else `DUPLEX_STATE_DIR`, else under
    /// `HOME` (the agent configuration's `state_dir` wins over the last, see ``perform(environment:)``).
    func stateDirectory(environment: [String: String]) -> String {
        if let stateDir { return stateDir }
        if let directory = environment["DUPLEX_STATE_DIR"], !directory.isEmpty { return directory }
        return (environment["HOME"] ?? "/var/lib/duplex") + "/.local/state/duplex/sync"
    }

    /// Whether the state directory is the agent configuration's (`--config`): neither
    /// `--state-dir` nor `DUPLEX_STATE_DIR` chose one.
    func configurationChoosesStateDirectory(environment: [String: String]) -> Bool {
        tls.config != nil && stateDir == nil && environment["DUPLEX_STATE_DIR"] == nil
    }

    /// Runs the sync: through the agent of `--agent` when it answers (see
    /// ``runThroughAgent(_:)``), else in this process; prints what it says and exits as it does.
    func run() async throws {
        let outcome: SyncOutcome
        if let agent, let answer = runThroughAgent(agent) {
            outcome = answer
        } else {
            outcome = try await perform(environment: ProcessInfo.processInfo.environment)
        }
        Output.write(outcome.output)
        if !outcome.errors.isEmpty { Output.writeErrors(outcome.errors) }
        if outcome.status != 0 { throw ExitCode(outcome.status) }
    }

    /// Runs the sync in this process and returns what the command prints and its exit status.
    ///
    /// - Parameter environment: The variables that choose the state directory
    ///   (`DUPLEX_STATE_DIR`, `HOME`) and complete an agent configuration (`DUPLEX_*`).
    /// - Throws: only what is no sync failure (a ``DsyncError`` or a ``ConfigurationError``
    ///   is an exit status with its message).
    func perform(environment: [String: String]) async throws -> SyncOutcome {
        var options = SyncOptions(user: user)
        options.full = full
        options.dryRun = dryRun
        options.lockTimeout = .milliseconds(Int64(lockTimeout * 1000))
        options.stateDirectory = stateDirectory(environment: environment)
        options.massExpungeResolution = restoreMassExpunge ? .restore : acceptMassExpunge ? .accept : .hold
        var errors = ""
        let report: SyncReport
        do {
            let b: any Replica
            if remote {
                let (files, configuredStateDirectory, warnings) = try await tls.load(environment: environment)
                for warning in warnings { errors += "duplex: error: warning: \(warning)\n" }
                if configurationChoosesStateDirectory(environment: environment), let configuredStateDirectory {
                    options.stateDirectory = configuredStateDirectory
                }
                b = try RemoteReplica(
                    endpoint: mailRootB, user: user, tls: files, full: full, readTimeout: .milliseconds(Int64(ioTimeout * 1000)))
            } else {
                b = LocalReplica(store: MailStore(root: LocalReplica.canonicalPath(mailRootB)))
            }
            // Each local root by its canonical path, so that its saved state is the same however
            // it is written; a state saved by an earlier version is named after the roots as
            // they were typed.
            let a = LocalReplica(store: MailStore(root: LocalReplica.canonicalPath(mailRootA)))
            let typedB = remote ? b.description : mailRootB
            if a.description != mailRootA || b.description != typedB {
                options.formerStateSides = (mailRootA, typedB)
            }
            let session = SyncSession(a: a, b: b, options: options)
            report = try await session.run()
        } catch let error as DsyncError {
            return SyncOutcome(status: error.code.exitCode, errors: errors + Output.errorLine(error.description))
        } catch let error as ConfigurationError {
            return SyncOutcome(status: error.code.exitCode, errors: errors + Output.errorLine(error.description))
        }
        let output = json ? try Output.jsonText(report) : SyncCommand.describe(report, a: mailRootA, b: mailRootB)
        return SyncOutcome(status: report.changedDuringSync ? 2 : 0, output: output, errors: errors)
    }
}

/// What a `duplex sync` prints and how it exits.
struct SyncOutcome: Equatable, Sendable {
    /// The exit status: 0, or one of the codes of `duplex sync --help`.
    var status: Int32
    /// Standard output: the report (a table, or JSON with `--json`).
    var output = ""
    /// Standard error: warnings and the error, each line `duplex: error: …`.
    var errors = ""
}
