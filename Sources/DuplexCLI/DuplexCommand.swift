import ArgumentParser
import Dispatch
import Foundation
import MailStore
import NIOCore
import NIOPosix

/// The `duplex` command line: one binary for the agent, the coordinator and administration.
public struct DuplexCommand: AsyncParsableCommand {
    /// The release version printed by `duplex --version`.
    public static let version = "0.1.0"

    public static let configuration = CommandConfiguration(
        commandName: "duplex",
        abstract: "Master/master Maildir replication for fleets of Dovecot backend pairs.",
        discussion: """
            Exit codes (as doveadm's): 0 ok, 64 usage, 65 bad data, 68 not found, \
            73 can't create or already exists, 74 I/O error, 75 temporary failure \
            (lock timeout; retry), 77 permission denied.
            """,
        version: version,
        subcommands: [SyncCommand.self, AgentCommand.self, MailboxCommand.self, FetchCommand.self, MailCommand.self, TLSCommand.self, ReplicatorCommand.self,
                      DemoCommand.self,
                      CoordinatorCommand.self,
                      TenantCommand.self, PairCommand.self, UserCommand.self, StatusCommand.self]
    )

    public init() {}

    /// Parses the process arguments and runs the chosen command (async or not), exiting
    /// with its exit code.
    public static func start() async {
        startEventLoopsEarly()
        do {
            if let sync = quickParse() {
                // Run as it is, without asking the runtime whether it is async: it is. Then
                // exit from here (exit flushes standard output): returning would first hand
                // the end of the program to the main thread, which takes another thread's
                // start, a few tenths of a millisecond of every sync.
                try await sync.run()
                Foundation.exit(0)
            }
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }

    /// For `duplex sync … tls://…`, starts the event loop thread the connection will use
    /// while the command line is still being read and the local lock taken: its start
    /// (a thread, epoll, the runtime's first look at the types) otherwise comes first on the
    /// way to the peer. One thread, not one per CPU: the sync has one connection, and fewer
    /// threads wake each other less on a busy host. A sync whose arguments turn out bad only
    /// had an idle thread more. A sync handed to the local agent (`--agent`) needs none.
    static func startEventLoopsEarly() {
        let arguments = CommandLine.arguments
        guard arguments.count > 2, arguments[1] == SyncCommand.configuration.commandName,
              arguments.contains(where: { $0.hasPrefix("tls://") }),
              !arguments.contains(where: { $0 == "--agent" || $0.hasPrefix("--agent=") }) else { return }
        NIOSingletons.groupLoopCountSuggestion = 1
        DispatchQueue.global(qos: .userInitiated).async { _ = MultiThreadedEventLoopGroup.singleton }
    }

    /// `duplex sync …` parsed by its own command alone, or nil to parse as usual.
    ///
    /// Parsing from the root builds the argument sets of every subcommand, which looks up
    /// their types at run time: about 3 ms of each `duplex sync`, as much as a sync that
    /// finds nothing to do. A plain sync command line is read without ArgumentParser
    /// (``SyncCommand/parseWellFormed(_:)``), others by the sync command's parser alone.
    /// Anything that is no sync (help, a bad argument) is left to the root parser, so
    /// messages and usage are the same either way.
    static func quickParse() -> SyncArguments? {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard arguments.first == SyncCommand.configuration.commandName else { return nil }
        let syncArguments = Array(arguments.dropFirst())
        if let parsed = SyncCommand.parseWellFormed(syncArguments) { return parsed }
        return ((try? SyncCommand.parseAsRoot(syncArguments)) as? SyncCommand)?.arguments
    }
}

/// Options every command that opens a mail root takes.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Hierarchy separator of mailbox names.", valueName: "CHAR"))
    var separator: String = "/"

    @Option(name: .long, help: ArgumentHelp("Seconds to wait for a Maildir lock before failing with exit code 75.", valueName: "SECS"))
    var lockTimeout: Double = 30

    func validate() throws {
        guard separator.count == 1, let character = separator.first, character != ".", character.isASCII,
              !character.isWhitespace else {
            throw ValidationError("--separator must be one ASCII character other than '.' and space, got \"\(separator)\"")
        }
        guard lockTimeout >= 0, lockTimeout <= 3600 else {
            throw ValidationError("--lock-timeout must be between 0 and 3600 seconds, got \(lockTimeout)")
        }
    }

    func store(_ root: String) -> MailStore {
        var configuration = MailStoreConfiguration(separator: separator.first!)
        configuration.lock.timeout = .milliseconds(Int64(lockTimeout * 1000))
        configuration.subscriptionsLock.timeout = configuration.lock.timeout
        return MailStore(root: root, configuration: configuration)
    }
}

/// Runs a command body and turns a ``MailStoreError`` into a message on standard error
/// and the matching exit code.
func runReportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as MailStoreError {
        Output.error(error.description)
        throw ExitCode(error.code.exitCode)
    }
}
